import * as tf from '@tensorflow/tfjs-core';
import { checkOptionKeys, optionKeys } from '../checks.js';
import { biasCorrection, type Hyperparam, increment, oneMinus } from '../hyperparams.js';
import { sqrtWithRoot } from '../numerics.js';
import type { GradientTransformation } from '../transform.js';
import { mapLike } from '../tree-ops.js';
import { asScalar } from './scale-by-adam.js';

/** State of `scaleByRms`. */
export interface ScaleByRmsState {
  /** Updates so far (int32 scalar). */
  count: tf.Scalar;
  /** Exponential moving average of the squared gradients. */
  nu: unknown;
}

/** Options of `scaleByRms` (optax's defaults). */
export interface ScaleByRmsOptions {
  /** Decay of the squared-gradient average (default 0.9). */
  decay?: Hyperparam;
  /** Stabiliser (default 1e-8), inside the square root unless `epsInSqrt` is false. */
  eps?: Hyperparam;
  /** Initial value of the average (default 0). */
  initialScale?: number;
  /** Add `eps` inside the square root (default true, as optax's `rmsprop`). */
  epsInSqrt?: boolean;
  /** Divide the average by `1 - decay^t` (default false). */
  biasCorrection?: boolean;
}

/**
 * RMSProp's rescaling (optax's `scale_by_rms`): `g / sqrt(nu + eps)`, with
 * `nu = decay nu + (1 - decay) g^2`.
 */
export function scaleByRms(opts: ScaleByRmsOptions = {}): GradientTransformation<ScaleByRmsState> {
  checkOptionKeys(
    'scaleByRms',
    opts,
    optionKeys<ScaleByRmsOptions>({
      decay: true,
      eps: true,
      initialScale: true,
      epsInSqrt: true,
      biasCorrection: true,
    }),
  );
  const { decay = 0.9, eps = 1e-8, initialScale = 0, epsInSqrt = true, biasCorrection: debias = false } = opts;
  return {
    init: (params) => ({
      count: tf.scalar(0, 'int32'),
      nu: mapLike((p) => tf.fill(p.shape, initialScale), params),
    }),
    update: (updates, state) => {
      const count = increment(state.count);
      const d = asScalar(decay);
      const c = asScalar(oneMinus(decay));
      const nu = mapLike((g, v) => tf.add(tf.mul(v, d), tf.mul(tf.square(g), c)), updates, state.nu);
      const scaleBy = debias ? tf.reciprocal(biasCorrection(decay, count)) : undefined;
      const out = mapLike(
        (g, v) => {
          const vh = scaleBy ? tf.mul(v, scaleBy) : v;
          // eps inside the root keeps the derivative finite; outside, sqrtWithRoot does.
          const den = epsInSqrt ? sqrtWithRoot(vh, eps) : tf.add(sqrtWithRoot(vh), eps);
          return tf.div(g, den);
        },
        updates,
        nu,
      );
      return [out, { count, nu }];
    },
  };
}
