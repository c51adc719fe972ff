import * as tf from '@tensorflow/tfjs-core';
import { checkOptionKeys, optionKeys } from '../checks.js';
import { biasCorrection, type Hyperparam, increment, oneMinus } from '../hyperparams.js';
import { sqrtWithRoot } from '../numerics.js';
import type { GradientTransformation } from '../transform.js';
import { mapLike } from '../tree-ops.js';
import { asScalar, type ScaleByAdamState } from './scale-by-adam.js';

/** Options of `scaleByYogi` (optax's defaults). */
export interface ScaleByYogiOptions {
  /** Decay of the first moment (default 0.9). */
  b1?: Hyperparam;
  /** Rate of the additive second-moment update (default 0.999). */
  b2?: Hyperparam;
  /** Added outside the square root (default 1e-3). */
  eps?: Hyperparam;
  /** Added inside the square root (default 0). */
  epsRoot?: Hyperparam;
  /** Initial value of both moments (default 1e-6). */
  initialAccumulatorValue?: number;
}

/**
 * Yogi's rescaling (optax's `scale_by_yogi`): Adam with the additive second-moment update
 * `v = v - (1 - b2) sign(v - g^2) g^2`.
 */
export function scaleByYogi(opts: ScaleByYogiOptions = {}): GradientTransformation<ScaleByAdamState> {
  checkOptionKeys(
    'scaleByYogi',
    opts,
    optionKeys<ScaleByYogiOptions>({ b1: true, b2: true, eps: true, epsRoot: true, initialAccumulatorValue: true }),
  );
  const { b1 = 0.9, b2 = 0.999, eps = 1e-3, epsRoot = 0, initialAccumulatorValue = 1e-6 } = opts;
  return {
    init: (params) => ({
      count: tf.scalar(0, 'int32'),
      mu: mapLike((p) => tf.fill(p.shape, initialAccumulatorValue), params),
      nu: mapLike((p) => tf.fill(p.shape, initialAccumulatorValue), params),
    }),
    update: (updates, state) => {
      const count = increment(state.count);
      const b1t = asScalar(b1);
      const c1 = asScalar(oneMinus(b1));
      const c2 = asScalar(oneMinus(b2));
      const mu = mapLike((g, m) => tf.add(tf.mul(m, b1t), tf.mul(g, c1)), updates, state.mu);
      const nu = mapLike(
        (g, v) => {
          const g2 = tf.square(g);
          return tf.sub(v, tf.mul(tf.mul(tf.sign(tf.sub(v, g2)), g2), c2));
        },
        updates,
        state.nu,
      );
      const k1 = tf.reciprocal(biasCorrection(b1, count));
      const k2 = tf.reciprocal(biasCorrection(b2, count));
      const out = mapLike((m, v) => tf.div(tf.mul(m, k1), tf.add(sqrtWithRoot(tf.mul(v, k2), epsRoot), eps)), mu, nu);
      return [out, { count, mu, nu }];
    },
  };
}
