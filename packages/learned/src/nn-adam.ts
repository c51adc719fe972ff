import { type InitOptions, Optimizer, type OptState, type UpdateOptions } from '@lopt/optimizers';
import { type PRNGKey, random } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { safeSqrt } from './features.js';
import { LearnedOptimizer } from './learned-optimizer.js';
import { applyLinear, initLinear, type Linear, type LSTMState, lstmStep, lstmZeroState } from './nn.js';
import { ravelParamsGrads } from './raveled.js';
import { Segments } from './segments.js';
import { tidyTree } from './tidy-tree.js';

/** Options of `NNAdam` (the reference's defaults). */
export interface NNAdamOptions {
  /** Multiplier of the LSTM's hyperparameter changes (0.01). */
  outputScale?: number;
  /** Initial learning rate (1e-4). */
  initialLearningRate?: number;
  /** Initial beta1 (0.9). */
  initialBeta1?: number;
  /** Initial beta2 (0.999). */
  initialBeta2?: number;
  /** Initial epsilon (1e-8). */
  initialEpsilon?: number;
  /** Pull of the per-layer hyperparameters back to theta's values each step (0). */
  decayStrength?: number;
  /** Width of the LSTM (32). */
  lstmHiddenSize?: number;
}

/** Meta-parameters of `NNAdam`. */
export interface NNAdamTheta {
  /** The LSTM's initial state (batch 1, tiled to one row per tensor). */
  lstmInitState: LSTMState;
  /** The LSTM's gate weights, `[19 + hidden, 4 * hidden]`. */
  rnnParams: Linear;
  /** LSTM output to the four hyperparameter changes (zero-initialised weights). */
  rnnToControlsParams: Linear;
  /** Initial learning rate, as `0.1 * log(lr)`. */
  perLayerLr: tf.Scalar;
  /** Initial beta1, as `0.1 * log(1 - beta1)`. */
  perLayerBeta1: tf.Scalar;
  /** Initial beta2, as `0.1 * log(1 - beta2)`. */
  perLayerBeta2: tf.Scalar;
  /** Initial epsilon, as `0.1 * log(epsilon)`. */
  perLayerEpsilon: tf.Scalar;
}

/** State of `NNAdam`'s optimizer; per-layer values have one entry per parameter tensor. */
export interface NNAdamState<P> extends OptState<P> {
  /** First and second moments over the raveled parameters, `[N, 1]` each. */
  rollingFeatures: { m: tf.Tensor2D; rms: tf.Tensor2D };
  /** Per-tensor learning rate (scaled as in theta), `[T]`. */
  perLayerLr: tf.Tensor1D;
  /** Per-tensor beta1 (scaled), `[T]`. */
  perLayerBeta1: tf.Tensor1D;
  /** Per-tensor beta2 (scaled), `[T]`. */
  perLayerBeta2: tf.Tensor1D;
  /** Per-tensor epsilon (scaled), `[T]`. */
  perLayerEpsilon: tf.Tensor1D;
  /** The LSTM state, one row per tensor. */
  lstmHiddenState: LSTMState;
}

const lrInverse = (x: tf.Tensor) => tf.clipByValue(tf.exp(tf.mul(x, 10)), 1e-8, 1e3);
const epsInverse = (x: tf.Tensor) => tf.clipByValue(tf.exp(tf.mul(x, 10)), 1e-11, 1e4);
const oneMinusInverse = (x: tf.Tensor) => tf.sub(1, tf.exp(tf.clipByValue(tf.mul(x, 10), -10, 0)));
// forward(inverse(x)) of each transform, which the reference applies to keep the
// per-layer values in range, written as the equal clip so no rounding accumulates.
const LR_LO = 0.1 * Math.log(1e-8);
const LR_HI = 0.1 * Math.log(1e3);
const EPS_LO = 0.1 * Math.log(1e-11);
const EPS_HI = 0.1 * Math.log(1e4);
const clipLogAbsHalf = (x: tf.Tensor) => tf.mul(tf.clipByValue(tf.log(tf.add(tf.abs(x), 1e-8)), -5, 5), 0.5);
const clipFeat = (x: tf.Tensor) => tf.mul(tf.clipByValue(x, -5, 5), 0.2);

/**
 * The reference's `NNAdam`: Adam with per-tensor hyperparameters that a per-tensor LSTM
 * adjusts every step. The LSTM reads 19 tensor statistics (moment, parameter and
 * gradient magnitudes and signs, tensor kind, current hyperparameters) and outputs
 * changes (times `outputScale`) to each tensor's learning rate, beta1, beta2 and
 * epsilon, kept on log scales and clipped to valid ranges. The step is
 * `lr * (1 + eps) / (eps + sqrt(rms + 1e-10)) * m` (no bias correction), which
 * tends to momentum SGD as epsilon grows.
 *
 * Differences from the reference: state is stored raveled (`[N, 1]` moments, `[T]`
 * per-layer values) rather than as trees; `numSteps` at `init` is optional (the
 * reference requires it but does not use it).
 */
export class NNAdam extends LearnedOptimizer<NNAdamTheta> {
  /** Multiplier of the LSTM's hyperparameter changes. */
  readonly outputScale: number;
  /** Initial learning rate. */
  readonly initialLearningRate: number;
  /** Initial beta1. */
  readonly initialBeta1: number;
  /** Initial beta2. */
  readonly initialBeta2: number;
  /** Initial epsilon. */
  readonly initialEpsilon: number;
  /** Pull back to theta's hyperparameters each step. */
  readonly decayStrength: number;
  /** Width of the LSTM. */
  readonly lstmHiddenSize: number;

  /** @param opts hyperparameters (the reference's defaults when omitted) */
  constructor(opts: NNAdamOptions = {}) {
    super();
    this.outputScale = opts.outputScale ?? 0.01;
    this.initialLearningRate = opts.initialLearningRate ?? 1e-4;
    this.initialBeta1 = opts.initialBeta1 ?? 0.9;
    this.initialBeta2 = opts.initialBeta2 ?? 0.999;
    this.initialEpsilon = opts.initialEpsilon ?? 1e-8;
    this.decayStrength = opts.decayStrength ?? 0;
    this.lstmHiddenSize = opts.lstmHiddenSize ?? 32;
  }

  /** LSTM weights from `key`, zero output weights and the initial hyperparameters. */
  init(key: PRNGKey): NNAdamTheta {
    const [, k2, k3] = random.split(key, 3) as PRNGKey[];
    const h = this.lstmHiddenSize;
    return {
      lstmInitState: lstmZeroState(h),
      rnnParams: initLinear(k2!, 19 + h, 4 * h),
      rnnToControlsParams: initLinear(k3!, h, 4, true),
      perLayerLr: tf.scalar(0.1 * Math.log(this.initialLearningRate)),
      perLayerBeta1: tf.scalar(0.1 * Math.log(1 - this.initialBeta1)),
      perLayerBeta2: tf.scalar(0.1 * Math.log(1 - this.initialBeta2)),
      perLayerEpsilon: tf.scalar(0.1 * Math.log(this.initialEpsilon)),
    };
  }

  /** The optimizer that applies `theta`. */
  optFn(theta: NNAdamTheta): Optimizer {
    return new NNAdamOptimizer(this, theta);
  }

  override get name(): string {
    return 'NNAdam';
  }
}

class NNAdamOptimizer extends Optimizer {
  constructor(
    private readonly lopt: NNAdam,
    private readonly theta: NNAdamTheta,
  ) {
    super();
  }

  init<P>(params: P, opts: InitOptions = {}): NNAdamState<P> {
    return tidyTree(() => {
      const { raveled } = ravelParamsGrads('NNAdam', params, params);
      const n = raveled.n;
      const t = raveled.sizes.length;
      const th = this.theta;
      const perLayer = (x: tf.Scalar) => tf.mul(tf.ones([t]), x) as tf.Tensor1D;
      return {
        params,
        modelState: opts.modelState,
        iteration: tf.scalar(0, 'int32'),
        rollingFeatures: { m: tf.zeros([n, 1]) as tf.Tensor2D, rms: tf.zeros([n, 1]) as tf.Tensor2D },
        perLayerLr: perLayer(th.perLayerLr),
        perLayerBeta1: perLayer(th.perLayerBeta1),
        perLayerBeta2: perLayer(th.perLayerBeta2),
        perLayerEpsilon: perLayer(th.perLayerEpsilon),
        lstmHiddenState: {
          hidden: tf.tile(th.lstmInitState.hidden, [t, 1]) as tf.Tensor2D,
          cell: tf.tile(th.lstmInitState.cell, [t, 1]) as tf.Tensor2D,
        },
      };
    });
  }

  update<P>(state: OptState<P>, grads: P, opts: UpdateOptions = {}): NNAdamState<P> {
    const s = state as NNAdamState<P>;
    const lopt = this.lopt;
    const th = this.theta;
    return tidyTree(() => {
      const { raveled, p, g: rawG } = ravelParamsGrads('NNAdam', s.params, grads, s.rollingFeatures.m.shape[0]);
      const seg = Segments.contiguous(raveled.sizes);
      const numTensors = raveled.sizes.length;
      const g = tf.clipByValue(rawG, -1000, 1000) as tf.Tensor2D;
      const perElem = (v: tf.Tensor) => seg.expand(tf.reshape(v, [-1, 1]) as tf.Tensor2D);

      const b1 = perElem(oneMinusInverse(s.perLayerBeta1));
      const b2 = perElem(oneMinusInverse(s.perLayerBeta2));
      const eps = perElem(epsInverse(s.perLayerEpsilon));
      const lr = perElem(lrInverse(s.perLayerLr));
      const m = tf.add(tf.mul(b1, s.rollingFeatures.m), tf.mul(tf.sub(1, b1), g)) as tf.Tensor2D;
      const rms = tf.add(tf.mul(b2, s.rollingFeatures.rms), tf.mul(tf.sub(1, b2), tf.square(g))) as tf.Tensor2D;
      // sqrt(rms + 1e-10) is finite to differentiate even where rms is exactly 0.
      const step = tf.mul(tf.div(tf.mul(lr, tf.add(eps, 1)), tf.add(eps, safeSqrt(tf.add(rms, 1e-10)))), m);
      const params = raveled.unravel(tf.sub(p, step));

      // Per-tensor LSTM features, in the reference's sorted-key order.
      const stat = (x: tf.Tensor2D): [tf.Tensor, tf.Tensor] => {
        const mean = seg.mean(x);
        const v = seg.mean(tf.square(tf.sub(x, seg.expand(mean))) as tf.Tensor2D);
        return [mean, v];
      };
      const [meanM, varM] = stat(m);
      const [meanRms, varRms] = stat(rms);
      const [meanP, varP] = stat(p);
      const [meanG, varG] = stat(g);
      const meanGAbs = seg.mean(tf.abs(g) as tf.Tensor2D);
      const kinds = tf.tensor2d(
        raveled.shapes.map((sh) => [sh.length === 1 ? 1 : -1, sh.length === 0 ? 1 : -1]),
        [numTensors, 2],
      );
      const colv = (v: tf.Tensor1D) => tf.reshape(clipFeat(v), [-1, 1]);
      const inputs = tf.concat(
        [
          colv(s.perLayerBeta1),
          colv(s.perLayerBeta2),
          colv(s.perLayerEpsilon),
          kinds, // is_bias, is_scalar
          colv(s.perLayerLr),
          clipLogAbsHalf(meanG),
          tf.sign(meanG),
          clipLogAbsHalf(meanGAbs),
          clipLogAbsHalf(meanM),
          tf.sign(meanM),
          clipLogAbsHalf(meanP),
          tf.sign(meanP),
          clipLogAbsHalf(meanRms),
          tf.sign(meanRms),
          clipLogAbsHalf(varG),
          clipLogAbsHalf(varM),
          clipLogAbsHalf(varP),
          clipLogAbsHalf(varRms),
        ],
        1,
      ) as tf.Tensor2D;
      const [lstmOut, lstmHiddenState] = lstmStep(th.rnnParams, inputs, s.lstmHiddenState);
      const deltas = tf.mul(applyLinear(th.rnnToControlsParams, lstmOut), lopt.outputScale);
      const [dLr, dB1, dB2, dEps] = tf.split(deltas, 4, 1).map((d) => tf.reshape(d, [-1]));
      const next = (cur: tf.Tensor1D, d: tf.Tensor, init: tf.Scalar) => {
        let v = tf.add(cur, d);
        if (lopt.decayStrength > 0) v = tf.sub(v, tf.mul(tf.sub(v, init), lopt.decayStrength));
        return v;
      };
      return {
        params,
        modelState: opts.modelState ?? s.modelState,
        iteration: tf.add(s.iteration, 1) as tf.Scalar,
        rollingFeatures: { m, rms },
        perLayerLr: tf.clipByValue(next(s.perLayerLr, dLr!, th.perLayerLr), LR_LO, LR_HI) as tf.Tensor1D,
        perLayerBeta1: tf.clipByValue(next(s.perLayerBeta1, dB1!, th.perLayerBeta1), -1, 0) as tf.Tensor1D,
        perLayerBeta2: tf.clipByValue(next(s.perLayerBeta2, dB2!, th.perLayerBeta2), -1, 0) as tf.Tensor1D,
        perLayerEpsilon: tf.clipByValue(
          next(s.perLayerEpsilon, dEps!, th.perLayerEpsilon),
          EPS_LO,
          EPS_HI,
        ) as tf.Tensor1D,
        lstmHiddenState,
      };
    });
  }

  override get name(): string {
    return 'NNAdam';
  }
}
