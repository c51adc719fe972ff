import * as tf from '@tensorflow/tfjs-core';
import { checkOptionKeys, optionKeys } from '../checks.js';
import { biasCorrection, type Hyperparam, increment, oneMinus } from '../hyperparams.js';
import { sqrtWithRoot } from '../numerics.js';
import type { GradientTransformation } from '../transform.js';
import { mapLike } from '../tree-ops.js';
import { asScalar, type ScaleByAdamState } from './scale-by-adam.js';

/** Options of `scaleByBelief` (optax's defaults). */
export interface ScaleByBeliefOptions {
  /** Decay of the first moment (default 0.9). */
  b1?: Hyperparam;
  /** Decay of the prediction-error moment (default 0.999). */
  b2?: Hyperparam;
  /** Added outside the square root (default 1e-16). */
  eps?: Hyperparam;
  /** Added to the moment each step (default 1e-16). */
  epsRoot?: Hyperparam;
}

/**
 * AdaBelief's rescaling (optax's `scale_by_belief`): like Adam, with the second moment of
 * the prediction error `g - m` (plus `epsRoot`) in place of that of `g`.
 */
export function scaleByBelief(opts: ScaleByBeliefOptions = {}): GradientTransformation<ScaleByAdamState> {
  checkOptionKeys(
    'scaleByBelief',
    opts,
    optionKeys<ScaleByBeliefOptions>({ b1: true, b2: true, eps: true, epsRoot: true }),
  );
  const { b1 = 0.9, b2 = 0.999, eps = 1e-16, epsRoot = 1e-16 } = opts;
  return {
    init: (params) => ({
      count: tf.scalar(0, 'int32'),
      mu: mapLike((p) => tf.zerosLike(p), params),
      nu: mapLike((p) => tf.zerosLike(p), params),
    }),
    update: (updates, state) => {
      const count = increment(state.count);
      const b1t = asScalar(b1);
      const b2t = asScalar(b2);
      const c1 = asScalar(oneMinus(b1));
      const c2 = asScalar(oneMinus(b2));
      const mu = mapLike((g, m) => tf.add(tf.mul(m, b1t), tf.mul(g, c1)), updates, state.mu);
      const nu = mapLike(
        (g, m, v) => tf.add(tf.add(tf.mul(v, b2t), tf.mul(tf.square(tf.sub(g, m)), c2)), epsRoot),
        updates,
        mu,
        state.nu,
      );
      const k1 = tf.reciprocal(biasCorrection(b1, count));
      const k2 = tf.reciprocal(biasCorrection(b2, count));
      const out = mapLike((m, v) => tf.div(tf.mul(m, k1), tf.add(sqrtWithRoot(tf.mul(v, k2)), eps)), mu, nu);
      return [out, { count, mu, nu }];
    },
  };
}
