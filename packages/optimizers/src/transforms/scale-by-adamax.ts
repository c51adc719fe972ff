import * as tf from '@tensorflow/tfjs-core';
import { biasCorrection, type Hyperparam, increment, oneMinus } from '../hyperparams.js';
import type { GradientTransformation } from '../transform.js';
import { mapLike } from '../tree-ops.js';
import { asScalar, type ScaleByAdamState } from './scale-by-adam.js';

/**
 * Adamax's rescaling (optax's `scale_by_adamax`): the bias-corrected first moment divided
 * by the decayed infinity norm `nu = max(b2 nu, |g| + eps)`. Defaults b1 0.9, b2 0.999,
 * eps 1e-8.
 */
export function scaleByAdamax(
  b1: Hyperparam = 0.9,
  b2: Hyperparam = 0.999,
  eps: Hyperparam = 1e-8,
): GradientTransformation<ScaleByAdamState> {
  return {
    init: (params) => ({
      count: tf.scalar(0, 'int32'),
      mu: mapLike((p) => tf.zerosLike(p), params),
      nu: mapLike((p) => tf.zerosLike(p), params),
    }),
    update: (updates, state) => {
      const count = increment(state.count);
      const b1t = asScalar(b1);
      const c1 = asScalar(oneMinus(b1));
      const mu = mapLike((g, m) => tf.add(tf.mul(m, b1t), tf.mul(g, c1)), updates, state.mu);
      const nu = mapLike((g, v) => tf.maximum(tf.mul(v, b2), tf.add(tf.abs(g), eps)), updates, state.nu);
      const k1 = tf.reciprocal(biasCorrection(b1, count));
      const out = mapLike((m, v) => tf.div(tf.mul(m, k1), v), mu, nu);
      return [out, { count, mu, nu }];
    },
  };
}
