import * as tf from '@tensorflow/tfjs-core';
import { biasCorrection, type Hyperparam, mulHp, oneMinus } from '../hyperparams.js';
import { sqrtWithRoot } from '../numerics.js';
import type { GradientTransformation } from '../transform.js';
import { mapLike } from '../tree-ops.js';

/** State of the Adam family: the count and the first and second moments. */
export interface ScaleByAdamState {
  /** Updates so far (int32 scalar). */
  count: tf.Scalar;
  /** Exponential moving average of the gradients. */
  mu: unknown;
  /** Exponential moving average of the squared gradients. */
  nu: unknown;
}

/** Options of `scaleByAdam`. */
export interface ScaleByAdamOptions {
  /** Decay of the first moment (default 0.9). */
  b1?: Hyperparam;
  /** Decay of the second moment (default 0.999). */
  b2?: Hyperparam;
  /** Added to the denominator outside the square root (default 1e-8). */
  eps?: Hyperparam;
  /** Added to the second moment inside the square root (default 0). */
  epsRoot?: Hyperparam;
  /** Use Nesterov momentum (Dozat, 2016), as NAdam does (default false). */
  nesterov?: boolean;
}

/**
 * Rescales updates by Adam's bias-corrected moments: `mHat / (sqrt(vHat + epsRoot) + eps)`
 * (optax's `scale_by_adam`). The scalar bias corrections are folded so each leaf costs
 * 12 ops: `sqrt(v / c2 + r) + e = (sqrt(v + r c2) + e sqrt(c2)) / sqrt(c2)`.
 */
export function scaleByAdam(opts: ScaleByAdamOptions = {}): GradientTransformation<ScaleByAdamState> {
  const { b1 = 0.9, b2 = 0.999, eps = 1e-8, epsRoot = 0, nesterov = false } = opts;
  const c1 = oneMinus(b1);
  const c2 = oneMinus(b2);
  return {
    init: (params) => ({
      count: tf.scalar(0, 'int32'),
      mu: mapLike((p) => tf.zerosLike(p), params),
      nu: mapLike((p) => tf.zerosLike(p), params),
    }),
    update: (updates, state) => {
      const count = tf.add(state.count, 1) as tf.Scalar;
      const mu = mapLike((g, m) => tf.add(tf.mul(m, b1), tf.mul(g, c1)), updates, state.mu);
      const nu = mapLike((g, v) => tf.add(tf.mul(v, b2), tf.mul(tf.square(g), c2)), updates, state.nu);
      const bc1 = biasCorrection(b1, count);
      const bc2 = biasCorrection(b2, count);
      const sbc2 = tf.sqrt(bc2);
      const rootAdd = typeof epsRoot === 'number' && epsRoot === 0 ? 0 : mulHp(epsRoot, bc2);
      const epsScaled = tf.mul(eps, sbc2);
      let out: typeof updates;
      if (nesterov) {
        // mHat = b1 m / (1 - b1^(t+1)) + (1 - b1) g / (1 - b1^t)
        const k1 = tf.div(tf.mul(sbc2, b1), biasCorrection(b1, tf.add(count, 1)));
        const k2 = tf.div(tf.mul(sbc2, c1), bc1);
        out = mapLike(
          (m, v, g) => tf.div(tf.add(tf.mul(m, k1), tf.mul(g, k2)), tf.add(sqrtWithRoot(v, rootAdd), epsScaled)),
          mu,
          nu,
          updates,
        );
      } else {
        const k = tf.div(sbc2, bc1);
        out = mapLike((m, v) => tf.mul(tf.div(m, tf.add(sqrtWithRoot(v, rootAdd), epsScaled)), k), mu, nu);
      }
      return [out, { count, mu, nu }];
    },
    elementwise: true,
  };
}
