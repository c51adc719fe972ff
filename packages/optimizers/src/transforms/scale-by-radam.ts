import * as tf from '@tensorflow/tfjs-core';
import { checkOptionKeys, optionKeys } from '../checks.js';
import { biasCorrection, countAsFloat, type Hyperparam, increment, oneMinus } from '../hyperparams.js';
import { sqrtWithRoot } from '../numerics.js';
import type { GradientTransformation } from '../transform.js';
import { mapLike } from '../tree-ops.js';
import { asScalar, type ScaleByAdamState } from './scale-by-adam.js';

/** Options of `scaleByRAdam` (optax's defaults). */
export interface ScaleByRAdamOptions {
  /** Decay of the first moment (default 0.9). */
  b1?: Hyperparam;
  /** Decay of the second moment (default 0.999). */
  b2?: Hyperparam;
  /** Added outside the square root (default 1e-8). */
  eps?: Hyperparam;
  /** Added inside the square root (default 0). */
  epsRoot?: Hyperparam;
  /** Variance-tractability threshold on `rho` (default 5). */
  threshold?: number;
}

/**
 * Rectified Adam's rescaling (optax's `scale_by_radam`, Liu et al. 2020): the momentum
 * alone while the variance estimate is intractable (`rho < threshold`), then Adam's step
 * times the rectification `r`.
 */
export function scaleByRAdam(opts: ScaleByRAdamOptions = {}): GradientTransformation<ScaleByAdamState> {
  checkOptionKeys(
    'scaleByRAdam',
    opts,
    optionKeys<ScaleByRAdamOptions>({ b1: true, b2: true, eps: true, epsRoot: true, threshold: true }),
  );
  const { b1 = 0.9, b2 = 0.999, eps = 1e-8, epsRoot = 0, threshold = 5 } = opts;
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
      const nu = mapLike((g, v) => tf.add(tf.mul(v, b2t), tf.mul(tf.square(g), c2)), updates, state.nu);
      const bc2 = biasCorrection(b2, count);
      const roInf = tf.sub(tf.div(2, c2), 1);
      // rho = rhoInf - 2 t b2^t / (1 - b2^t), with b2^t = 1 - bc2.
      const ro = tf.sub(roInf, tf.div(tf.mul(tf.mul(2, countAsFloat(count)), tf.sub(1, bc2)), bc2));
      const tractable = tf.greaterEqual(ro, threshold);
      // r is NaN for rho in (2, 4); evaluating it at rhoInf there keeps gradients finite.
      const roSafe = tf.where(tractable, ro, roInf);
      const r = tf.sqrt(
        tf.div(
          tf.mul(tf.mul(tf.sub(roSafe, 4), tf.sub(roSafe, 2)), roInf),
          tf.mul(tf.mul(tf.sub(roInf, 4), tf.sub(roInf, 2)), roSafe),
        ),
      );
      const k1 = tf.reciprocal(biasCorrection(b1, count));
      const k2 = tf.reciprocal(bc2);
      const adamScale = tf.mul(r, k1);
      const out = mapLike(
        (m, v) =>
          tf.where(
            tractable,
            tf.div(tf.mul(m, adamScale), tf.add(sqrtWithRoot(tf.mul(v, k2), epsRoot), eps)),
            tf.mul(m, k1),
          ),
        mu,
        nu,
      );
      return [out, { count, mu, nu }];
    },
  };
}
