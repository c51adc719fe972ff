import { type PRNGKey, random, valueAndGrad } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { truncatedUnroll } from './common.js';
import { type EmptyState, requireNeverEnding } from './full-es.js';
import {
  GradientEstimator,
  type GradientEstimatorOut,
  type Metrics,
  type WorkerWeights,
} from './gradient-estimator.js';
import { disposeExcept } from './tree-utils.js';
import { maskedMeanLoss } from './truncated-grad.js';
import type { TruncatedStep } from './truncated-step.js';
import type { TruncationSchedule } from './truncation-schedule.js';

/** Options of `FullGrad`. */
export interface FullGradOptions {
  /** The meta-loss: the mean loss over the unroll (`'avg'`, default) or the last step's (`'last'`). */
  lossType?: 'avg' | 'last';
}

/**
 * Backpropagation through whole unrolls (learned_optimization's `FullGrad`): each
 * estimate starts K fresh problems, unrolls them for a length from
 * `truncationSchedule`, and differentiates the meta-loss in theta. Keeps no state.
 */
export class FullGrad<Theta = unknown> extends GradientEstimator<Theta, EmptyState> {
  /** The meta-loss reduction. */
  readonly lossType: 'avg' | 'last';

  /**
   * @param truncatedStep the inner problems (with a `NeverEndingTruncationSchedule`).
   * @param truncationSchedule draws each estimate's unroll length.
   */
  constructor(
    readonly truncatedStep: TruncatedStep<Theta>,
    readonly truncationSchedule: TruncationSchedule,
    opts: FullGradOptions = {},
  ) {
    super();
    this.lossType = opts.lossType ?? 'avg';
    if (this.lossType !== 'avg' && this.lossType !== 'last')
      throw new Error(`FullGrad: unsupported lossType '${this.lossType}'`);
    requireNeverEnding(truncatedStep, 'FullGrad');
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
    const { outerState } = workerWeights;
    const trunc = this.truncationSchedule.init(key, outerState) as { length?: number };
    if (typeof trunc.length !== 'number') throw new Error('FullGrad: the truncation schedule must have a length');
    const length = trunc.length;
    const datas = this.truncatedStep.getBatch(length);
    const [k1, k2] = random.split(key, 3);
    const metaLoss = (theta: Theta): tf.Scalar => {
      const s0 = this.truncatedStep.initStepState(theta, outerState, k1!, { numStepsOverride: length });
      const [s, ys] = truncatedUnroll(this.truncatedStep, length, false, theta, k2!, s0, datas, outerState, length);
      disposeExcept(s0, s);
      disposeExcept(s);
      const l = this.lossType === 'last' ? tf.mean(ys[ys.length - 1]!.loss) : maskedMeanLoss(ys);
      for (const y of ys) y.loss.dispose();
      return l as tf.Scalar;
    };
    const [loss, grad] = valueAndGrad(metaLoss)(workerWeights.theta);
    disposeExcept(datas);
    const meanLoss = loss.dataSync()[0]!;
    loss.dispose();
    return [{ meanLoss, grad, unrollState: {} }, { unrollLength: length }];
  }
}
