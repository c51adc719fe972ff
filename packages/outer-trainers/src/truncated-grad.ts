import { type PRNGKey, random, valueAndGrad } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { truncatedUnroll } from './common.js';
import {
  GradientEstimator,
  type GradientEstimatorOut,
  type Metrics,
  type UnrollInfo,
  type WorkerWeights,
} from './gradient-estimator.js';
import { disposeExcept } from './tree-utils.js';
import { checkUnrollLength } from './truncated-es.js';
import type { TruncatedStep, TruncatedUnrollOut } from './truncated-step.js';

/** Options of `TruncatedGrad`. */
export interface TruncatedGradOptions {
  /** Inner steps per estimate (default 20). */
  unrollLength?: number;
  /** Inner steps per unroll call; must divide `unrollLength` (default 10). */
  stepsPerJit?: number;
}

/** `[steps, K]` losses to the mean over problems of each problem's masked mean, differentiably. */
export function maskedMeanLoss(ys: TruncatedUnrollOut[]): tf.Scalar {
  return tf.tidy(() => {
    const loss = tf.stack(ys.map((y) => y.loss));
    const mask = tf.tensor2d(ys.map((y) => y.mask.map((m) => (m ? 1 : 0))));
    const perTask = tf.div(tf.sum(tf.mul(loss, mask), 0), tf.maximum(tf.sum(mask, 0), 1));
    return tf.mean(perTask) as tf.Scalar;
  });
}

function infoOf(ys: TruncatedUnrollOut[], losses: tf.Tensor2D): UnrollInfo {
  const l = losses.arraySync();
  return {
    loss: l,
    iteration: ys.map((y) => y.iteration),
    taskParam: ys.map((y) => y.taskParam),
    isDone: ys.map((y) => y.isDone),
  };
}

/**
 * Truncated backpropagation through time (learned_optimization's `TruncatedGrad`): the
 * meta-loss is the mean loss of an `unrollLength`-step unroll from the current inner
 * states, differentiated in theta through every inner update (second derivatives
 * included); the unroll's final states carry on to the next estimate.
 */
export class TruncatedGrad<Theta = unknown, S = unknown> extends GradientEstimator<Theta, S> {
  /** Inner steps per estimate. */
  readonly unrollLength: number;
  /** Inner steps per unroll call. */
  readonly stepsPerJit: number;

  /** @param truncatedStep the inner problems. */
  constructor(
    readonly truncatedStep: TruncatedStep<Theta, S>,
    opts: TruncatedGradOptions = {},
  ) {
    super();
    this.unrollLength = opts.unrollLength ?? 20;
    this.stepsPerJit = opts.stepsPerJit ?? 10;
    checkUnrollLength(this.unrollLength, this.stepsPerJit, 'TruncatedGrad');
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
    const { outerState } = workerWeights;
    const chunks = this.unrollLength / this.stepsPerJit;
    const datas = Array.from({ length: chunks }, () => this.truncatedStep.getBatch(this.stepsPerJit));
    const metaLoss = (theta: Theta): [tf.Scalar, { state: S; ys: TruncatedUnrollOut[]; losses: tf.Tensor2D }] => {
      let s = state;
      const ys: TruncatedUnrollOut[] = [];
      for (let i = 0; i < chunks; i++) {
        const [k1] = random.split(random.foldIn(key, i));
        const [s2, out] = truncatedUnroll(
          this.truncatedStep,
          this.stepsPerJit,
          false,
          theta,
          k1!,
          s,
          datas[i]!,
          outerState,
        );
        if (s !== state) disposeExcept(s, s2, state);
        s = s2;
        ys.push(...out);
      }
      return [maskedMeanLoss(ys), { state: s, ys, losses: tf.stack(ys.map((y) => y.loss)) as tf.Tensor2D }];
    };
    const [[loss, aux], grad] = valueAndGrad(metaLoss, { hasAux: true })(workerWeights.theta);
    disposeExcept(datas, aux);
    const meanLoss = loss.dataSync()[0]!;
    loss.dispose();
    const unrollInfo = infoOf(aux.ys, aux.losses);
    for (const y of aux.ys) if (!y.loss.isDisposed) y.loss.dispose();
    aux.losses.dispose();
    return [{ meanLoss, grad, unrollState: aux.state, unrollInfo }, { unrollLength: this.unrollLength }];
  }
}
