import type { PRNGKey } from '@lopt/pytree';
import { treeDispose } from '@lopt/pytree';
import { antitheticUnroll } from './antithetic-unroll.js';
import { vectorSamplePerturbations } from './common.js';
import { type EsGradOptions, esGrad } from './es-grad.js';
import {
  GradientEstimator,
  type GradientEstimatorOut,
  type Metrics,
  type WorkerWeights,
} from './gradient-estimator.js';
import { checkPositiveInt, disposeExcept, KeySequence } from './tree-utils.js';
import type { TruncatedStep } from './truncated-step.js';
import { NeverEndingTruncationSchedule, type TruncationSchedule } from './truncation-schedule.js';

/** The empty state of estimators that keep nothing between estimates. */
export type EmptyState = Record<string, never>;

/** Options of `FullES`. */
export interface FullESOptions {
  /** Perturbation standard deviation (default 0.01). */
  std?: number;
  /** Inner steps per unroll call; unroll lengths are rounded to a multiple of it (default 10). */
  stepsPerJit?: number;
  /** How an unroll's losses make its meta-loss: `'avg'` (default), `'min'` or `'last'`. */
  lossType?: 'avg' | 'min' | 'last';
  /** Clip each problem's loss difference to `[-clipLossDiff, clipLossDiff]`. */
  clipLossDiff?: number;
  /** Use `sign(delta) * this` instead of the loss difference. */
  signDeltaLossScalar?: number;
}

/** Throws unless the truncated step leaves truncation to the estimator. */
export function requireNeverEnding(step: TruncatedStep, who: string): void {
  const sched = (step as { truncSched?: TruncationSchedule }).truncSched;
  if (sched && !(sched instanceof NeverEndingTruncationSchedule)) {
    throw new Error(
      `${who} manages its own unroll length: give the TruncatedStep a NeverEndingTruncationSchedule (got ${sched.name})`,
    );
  }
}

/**
 * Antithetic evolution strategies over whole unrolls (learned_optimization's `FullES`):
 * each estimate starts K fresh problems with `theta + eps_k` and K with `theta - eps_k`
 * (same keys and data), unrolls them for a length drawn from `truncationSchedule`, and
 * returns `mean_k (L+_k - L-_k) / (2 std^2) eps_k`, an unbiased estimate of the gradient
 * of the Gaussian-smoothed meta-loss. Keeps no state between estimates.
 */
export class FullES<Theta = unknown> extends GradientEstimator<Theta, EmptyState> {
  /** Perturbation standard deviation. */
  readonly std: number;
  /** Inner steps per unroll call. */
  readonly stepsPerJit: number;
  /** How an unroll's losses make its meta-loss. */
  readonly lossType: 'avg' | 'min' | 'last';
  private readonly es: EsGradOptions;

  /**
   * @param truncatedStep the inner problems (with a `NeverEndingTruncationSchedule`).
   * @param truncationSchedule draws each estimate's unroll length.
   */
  constructor(
    readonly truncatedStep: TruncatedStep<Theta>,
    readonly truncationSchedule: TruncationSchedule,
    opts: FullESOptions = {},
  ) {
    super();
    this.std = opts.std ?? 0.01;
    this.stepsPerJit = opts.stepsPerJit ?? 10;
    this.lossType = opts.lossType ?? 'avg';
    checkPositiveInt(this.stepsPerJit, 'FullES: stepsPerJit');
    if (!['avg', 'min', 'last'].includes(this.lossType))
      throw new Error(`FullES: unsupported lossType '${this.lossType}'`);
    this.es = { std: this.std, clipLossDiff: opts.clipLossDiff, signDeltaLossScalar: opts.signDeltaLossScalar };
    requireNeverEnding(truncatedStep, 'FullES');
  }

  /** The estimator's first state. */
  initWorkerState(): EmptyState {
    return {};
  }

  /** One gradient estimate from `state`, with metrics (inputs are not disposed). */
  computeGradientEstimate(
    workerWeights: WorkerWeights<Theta>,
    key: PRNGKey,
    _state: EmptyState,
  ): [GradientEstimatorOut<Theta, EmptyState>, Metrics] {
    const K = this.truncatedStep.numTasks;
    const rng = new KeySequence(key);
    const { theta, outerState } = workerWeights;
    const pert = vectorSamplePerturbations(theta, rng.next(), this.std, K);
    const k = rng.next();
    // One key for both signs: antithetic pairs share tasks, initialisations and data.
    const trunc = this.truncationSchedule.init(k, outerState) as { length?: number };
    if (typeof trunc.length !== 'number') {
      throw new Error('FullES: the truncation schedule must have a length (not NeverEndingTruncationSchedule)');
    }
    const length = Math.max(Math.floor(trunc.length / this.stepsPerJit) * this.stepsPerJit, this.stepsPerJit);
    const init = (pTheta: Theta[]) =>
      this.truncatedStep.initStepState(pTheta, outerState, k, { thetaIsVector: true, numStepsOverride: length });
    const { posState, negState, posInfo, negInfo } = antitheticUnroll(
      this.truncatedStep,
      pert,
      rng,
      { posState: init(pert.pTheta), negState: init(pert.nTheta), outerState },
      {
        numChunks: length / this.stepsPerJit,
        stepsPerJit: this.stepsPerJit,
        overrideNumSteps: length,
        ownsStart: true,
      },
    );
    disposeExcept(posState);
    disposeExcept(negState);
    const reduce = (l: number[][]) => reduceLoss(l, this.lossType);
    const [meanLoss, grad] = esGrad(pert.pos, reduce(posInfo.loss), reduce(negInfo.loss), this.es);
    treeDispose(pert.pos, pert.pTheta, pert.nTheta);
    return [{ meanLoss, grad, unrollState: {}, unrollInfo: posInfo }, { unrollLength: length }];
  }
}

function reduceLoss(l: number[][], type: 'avg' | 'min' | 'last'): number[] {
  const K = l[0]!.length;
  return Array.from({ length: K }, (_, k) => {
    const col = l.map((row) => row[k]!);
    if (type === 'min') return Math.min(...col);
    if (type === 'last') return col[col.length - 1]!;
    return col.reduce((a, b) => a + b, 0) / col.length;
  });
}
