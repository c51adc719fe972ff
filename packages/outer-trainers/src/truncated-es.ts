import type { PRNGKey } from '@lopt/pytree';
import { treeDispose } from '@lopt/pytree';
import { antitheticUnroll } from './antithetic-unroll.js';
import { maskedMeanPerTask, vectorSamplePerturbations } from './common.js';
import { type EsGradOptions, esGrad } from './es-grad.js';
import {
  GradientEstimator,
  type GradientEstimatorOut,
  type Metrics,
  type WorkerWeights,
} from './gradient-estimator.js';
import { checkPositiveInt, disposeExcept, KeySequence } from './tree-utils.js';
import type { TruncatedStep } from './truncated-step.js';

/** Throws unless `unrollLength` is a positive multiple of `stepsPerJit`. */
export function checkUnrollLength(unrollLength: number, stepsPerJit: number, who: string): void {
  checkPositiveInt(unrollLength, `${who}: the unroll length`);
  checkPositiveInt(stepsPerJit, `${who}: stepsPerJit`);
  if (unrollLength % stepsPerJit !== 0) {
    throw new Error(
      `${who}: the unroll length (${unrollLength}) must be a multiple of stepsPerJit (${stepsPerJit}), the steps run per call`,
    );
  }
}

/** Options of `TruncatedES`. */
export interface TruncatedESOptions {
  /** Inner steps per estimate (default 20). */
  unrollLength?: number;
  /** Inner steps per unroll call; must divide `unrollLength` (default 10). */
  stepsPerJit?: number;
  /** Perturbation standard deviation (default 0.01). */
  std?: number;
  /** Clip each problem's loss difference to `[-clipLossDiff, clipLossDiff]`. */
  clipLossDiff?: number;
  /** Use `sign(delta) * this` instead of the loss difference. */
  signDeltaLossScalar?: number;
}

/**
 * Truncated evolution strategies (learned_optimization's `TruncatedES`): from the
 * current inner states, two antithetic unrolls of `unrollLength` steps give an ES
 * estimate; the positive unroll's states carry on to the next estimate.
 */
export class TruncatedES<Theta = unknown, S = unknown> extends GradientEstimator<Theta, S> {
  /** Inner steps per estimate. */
  readonly unrollLength: number;
  /** Inner steps per unroll call. */
  readonly stepsPerJit: number;
  /** Perturbation standard deviation. */
  readonly std: number;
  private readonly es: EsGradOptions;

  /** @param truncatedStep the inner problems. */
  constructor(
    readonly truncatedStep: TruncatedStep<Theta, S>,
    opts: TruncatedESOptions = {},
  ) {
    super();
    this.unrollLength = opts.unrollLength ?? 20;
    this.stepsPerJit = opts.stepsPerJit ?? 10;
    this.std = opts.std ?? 0.01;
    checkUnrollLength(this.unrollLength, this.stepsPerJit, 'TruncatedES');
    this.es = { std: this.std, clipLossDiff: opts.clipLossDiff, signDeltaLossScalar: opts.signDeltaLossScalar };
  }

  /** The estimator's first state. */
  initWorkerState(workerWeights: WorkerWeights<Theta>, key: PRNGKey): S {
    return this.truncatedStep.initStepState(workerWeights.theta, workerWeights.outerState, key);
  }

  /** One gradient estimate from `state`, with metrics (inputs are not disposed). */
  computeGradientEstimate(
    workerWeights: WorkerWeights<Theta>,
    key: PRNGKey,
    state: S,
  ): [GradientEstimatorOut<Theta, S>, Metrics] {
    const K = this.truncatedStep.numTasks;
    const rng = new KeySequence(key);
    const { theta, outerState } = workerWeights;
    const pert = vectorSamplePerturbations(theta, rng.next(), this.std, K);
    // Both signs start from the same inner states.
    const start = { posState: state, negState: state, outerState };
    const chunks = { numChunks: this.unrollLength / this.stepsPerJit, stepsPerJit: this.stepsPerJit };
    const u = antitheticUnroll(this.truncatedStep, pert, rng, start, chunks);
    disposeExcept(u.negState, u.posState, state);
    const mask = u.posInfo.iteration.map((row) => row.map((s) => s !== 0));
    const posLoss = maskedMeanPerTask(u.posInfo.loss, mask);
    const negLoss = maskedMeanPerTask(u.negInfo.loss, mask);
    const [meanLoss, grad] = esGrad(pert.pos, posLoss, negLoss, this.es);
    treeDispose(pert.pos, pert.pTheta, pert.nTheta);
    return [{ meanLoss, grad, unrollState: u.posState, unrollInfo: u.posInfo }, { unrollLength: this.unrollLength }];
  }
}
