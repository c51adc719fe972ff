import type { PRNGKey } from '@lopt/pytree';
import type * as tf from '@tensorflow/tfjs-core';
import type { OuterState } from './outer-state.js';

/**
 * What one inner step of K problems reports (learned_optimization's
 * `TruncatedUnrollOut`). `loss` is a `[K]` tensor (differentiable in theta when the step
 * runs under a meta-gradient); the rest is plain data, one entry per problem.
 */
export interface TruncatedUnrollOut<Cfg = unknown> {
  /** Normalised losses, `[K]`; 0 where the problem was reset instead of trained. */
  loss: tf.Tensor1D;
  /** True where the problem's truncation ended with this step. */
  isDone: boolean[];
  /** The task config each problem had when the step began. */
  taskParam: Cfg[];
  /** The inner step each problem reached. */
  iteration: number[];
  /** False where the problem was reset (its loss is not a training loss). */
  mask: boolean[];
}

/** Options of `TruncatedStep.initStepState`. */
export interface InitStepStateOptions {
  /** `theta` is a list of K meta-parameter trees, one per problem (ES perturbations). */
  thetaIsVector?: boolean;
  /** Overrides the planned number of inner steps given to the optimizer's `init`. */
  numStepsOverride?: number;
}

/** Options of `TruncatedStep.unrollStep`. */
export interface UnrollStepOptions {
  /** `theta` is a list of K meta-parameter trees, one per problem (ES perturbations). */
  thetaIsVector?: boolean;
  /** Overrides the planned number of inner steps given to the optimizer's `init` on resets. */
  overrideNumSteps?: number;
}

/**
 * The inner problem of meta-training (learned_optimization's `TruncatedStep`, in its
 * vectorized form): K problems whose state is advanced one inner step at a time, reset
 * when their truncation ends, and evaluated for a meta-loss. States are plain data
 * (pytrees of tensors, numbers and configs). Methods never dispose their inputs.
 *
 * `Theta` is the meta-parameter pytree, `State` the unroll state of the K problems and
 * `Data` one step's data for the K problems.
 */
export interface TruncatedStep<Theta = unknown, State = unknown, Data = unknown> {
  /** The number of problems advanced together. */
  readonly numTasks: number;
  /** Fresh meta-parameters. */
  outerInit(key: PRNGKey): Theta;
  /** Fresh states of the K problems. */
  initStepState(theta: Theta | Theta[], outerState: OuterState, key: PRNGKey, opts?: InitStepStateOptions): State;
  /** `steps` inner steps' worth of training data (the caller disposes it after use). */
  getBatch(steps: number): Data[];
  /** `steps` inner steps' worth of data for meta-losses. */
  getOuterBatch(steps: number): Data[];
  /** Trains each problem one step, or resets it when its truncation is done. */
  unrollStep(
    theta: Theta | Theta[],
    state: State,
    key: PRNGKey,
    data: Data,
    outerState: OuterState,
    opts?: UnrollStepOptions,
  ): [State, TruncatedUnrollOut];
  /** The meta-loss of each problem's current state, `[K]`, without training. */
  metaLossBatch(theta: Theta | Theta[], state: State, key: PRNGKey, data: Data, outerState: OuterState): tf.Tensor1D;
  /** The inner step each problem is at (for metrics). */
  innerSteps(state: State): number[];
  /** Name of the task family (for metrics). */
  taskName(): string;
  /** Name of the configuration (for metrics). */
  cfgName(): string;
}
