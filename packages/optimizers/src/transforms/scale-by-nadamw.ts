import * as tf from '@tensorflow/tfjs-core';
import { checkOptionKeys, optionKeys } from '../checks.js';
import { biasCorrection, type Hyperparam, increment, oneMinus } from '../hyperparams.js';
import { sqrtWithRoot } from '../numerics.js';
import { type GradientTransformation, requireParams } from '../transform.js';
import { mapLike } from '../tree-ops.js';
import { asScalar, type ScaleByAdamState } from './scale-by-adam.js';

/** Options of `scaleByNadamw` (the reference `NAdamW`'s defaults). */
export interface ScaleByNadamwOptions {
  /** Decay of the first moment (default 0.9). */
  b1?: Hyperparam;
  /** Decay of the second moment (default 0.999). */
  b2?: Hyperparam;
  /** Added to the root of the second moment (default 1e-8). */
  eps?: Hyperparam;
  /** Decoupled (AdamW) weight decay, scaled like the step (default 0). */
  weightDecay?: Hyperparam;
  /** L2 weight decay added to the gradient before the moments (default 0). */
  l2WeightDecay?: Hyperparam;
  /** Nesterov momentum (default true). */
  nesterov?: boolean;
  /** Bias correction (default true). */
  biasCorrection?: boolean;
}

/**
 * The reference's NAdamW step, before the learning rate (Schneider et al.'s baseline,
 * arXiv:2002.11887): with `g' = g + l2 p`, `m`, `v` the moments of `g'` and
 * `c = sqrt(1 - b2^t) / (1 - b1^t)`, the update is
 * `c (b1 m + (1 - b1) g') / (sqrt(v) + eps) + c weightDecay p` (or `c m / ...` without
 * Nesterov). Note `eps` is outside the bias correction, unlike `scaleByAdam`.
 */
export function scaleByNadamw(opts: ScaleByNadamwOptions = {}): GradientTransformation<ScaleByAdamState> {
  checkOptionKeys(
    'scaleByNadamw',
    opts,
    optionKeys<ScaleByNadamwOptions>({
      b1: true,
      b2: true,
      eps: true,
      weightDecay: true,
      l2WeightDecay: true,
      nesterov: true,
      biasCorrection: true,
    }),
  );
  const {
    b1 = 0.9,
    b2 = 0.999,
    eps = 1e-8,
    weightDecay = 0,
    l2WeightDecay = 0,
    nesterov = true,
    biasCorrection: debias = true,
  } = opts;
  return {
    init: (params) => ({
      count: tf.scalar(0, 'int32'),
      mu: mapLike((p) => tf.zerosLike(p), params),
      nu: mapLike((p) => tf.zerosLike(p), params),
    }),
    update: (updates, state, params) => {
      const ps = requireParams('scaleByNadamw', params);
      const count = increment(state.count);
      const b1t = asScalar(b1);
      const b2t = asScalar(b2);
      const c1 = asScalar(oneMinus(b1));
      const c2 = asScalar(oneMinus(b2));
      const hasL2 = !(typeof l2WeightDecay === 'number' && l2WeightDecay === 0);
      const g = hasL2 ? mapLike((u, p) => tf.add(u, tf.mul(p, l2WeightDecay)), updates, ps) : updates;
      const mu = mapLike((x, m) => tf.add(tf.mul(m, b1t), tf.mul(x, c1)), g, state.mu);
      const nu = mapLike((x, v) => tf.add(tf.mul(v, b2t), tf.mul(tf.square(x), c2)), g, state.nu);
      const corr = debias ? tf.div(tf.sqrt(biasCorrection(b2, count)), biasCorrection(b1, count)) : tf.scalar(1);
      const hasWd = !(typeof weightDecay === 'number' && weightDecay === 0);
      const out = mapLike(
        (m, v, x, p) => {
          const num = nesterov ? tf.add(tf.mul(m, b1t), tf.mul(x, c1)) : m;
          const step = tf.div(num, tf.add(sqrtWithRoot(v), eps));
          const withWd = hasWd ? tf.add(step, tf.mul(p, weightDecay)) : step;
          return tf.mul(withWd, corr);
        },
        mu,
        nu,
        g,
        ps,
      );
      return [out, { count, mu, nu }];
    },
  };
}
