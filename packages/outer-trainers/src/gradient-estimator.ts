import type { PRNGKey } from '@lopt/pytree';
import type { OuterState } from './outer-state.js';
import type { TruncatedStep } from './truncated-step.js';

/**
 * What a worker needs from the learner to estimate a gradient
 * (learned_optimization's `WorkerWeights`).
 */
export interface WorkerWeights<Theta = unknown> {
  /** The current meta-parameters. */
  theta: Theta;
  /** Non-trainable state of the meta-parameters (unused by the learned optimizers here). */
  thetaModelState: unknown;
  /** The outer iteration, for schedules that depend on it. */
  outerState: OuterState;
}

/** Per-step outputs of an estimate's unroll, as plain numbers (`[steps][K]`). */
export interface UnrollInfo {
  /** Losses per step and problem. */
  loss: number[][];
  /** Inner step reached per step and problem. */
  iteration: number[][];
  /** Task configs per step and problem. */
  taskParam: unknown[][];
  /** Truncation ends per step and problem. */
  isDone: boolean[][];
}

/** One gradient estimate (learned_optimization's `GradientEstimatorOut`). */
export interface GradientEstimatorOut<Theta = unknown, S = unknown> {
  /** The mean meta-loss of the unrolls behind the estimate. */
  meanLoss: number;
  /** The estimated gradient, shaped like theta. */
  grad: Theta;
  /** The estimator's next state (the caller owns it and the old one). */
  unrollState: S;
  /** What the unroll saw, when the estimator reports it. */
  unrollInfo?: UnrollInfo;
}

/** Numeric metrics by name. */
export type Metrics = Record<string, number>;

/**
 * Estimates meta-gradients from unrolls of a `TruncatedStep`
 * (learned_optimization's `GradientEstimator`): ES, PES or backpropagation.
 * `initWorkerState` builds the estimator's state (plain data: inner states,
 * accumulators); `computeGradientEstimate` returns an estimate and the next state.
 * Neither disposes its inputs.
 */
export abstract class GradientEstimator<Theta = unknown, S = unknown> {
  /** The inner problem being unrolled. */
  abstract readonly truncatedStep: TruncatedStep<Theta>;

  /** The estimator's first state. */
  abstract initWorkerState(workerWeights: WorkerWeights<Theta>, key: PRNGKey): S;

  /** One gradient estimate from `state`, with metrics. */
  abstract computeGradientEstimate(
    workerWeights: WorkerWeights<Theta>,
    key: PRNGKey,
    state: S,
    opts?: { withSummary?: boolean },
  ): [GradientEstimatorOut<Theta, S>, Metrics];

  /** Name of the task family (for metrics). */
  taskName(): string {
    return this.truncatedStep.taskName();
  }

  /** Name of the configuration (for metrics). */
  cfgName(): string {
    return this.truncatedStep.cfgName();
  }

  /** The estimator's name, as the reference names it. */
  get name(): string {
    return this.constructor.name;
  }
}
