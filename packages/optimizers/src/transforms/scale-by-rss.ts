import * as tf from '@tensorflow/tfjs-core';
import type { Hyperparam } from '../hyperparams.js';
import type { GradientTransformation } from '../transform.js';
import { mapLike } from '../tree-ops.js';

/** State of `scaleByRss`. */
export interface ScaleByRssState {
  /** Running sum of squared gradients. */
  sumOfSquares: unknown;
}

/**
 * AdaGrad's rescaling (optax's `scale_by_rss`): `g / sqrt(sum g^2 + eps)` (0 where the sum
 * is 0). The sum starts at `initialAccumulatorValue` (default 0.1); `eps` defaults to 1e-7.
 */
export function scaleByRss(
  initialAccumulatorValue = 0.1,
  eps: Hyperparam = 1e-7,
): GradientTransformation<ScaleByRssState> {
  return {
    init: (params) => ({ sumOfSquares: mapLike((p) => tf.fill(p.shape, initialAccumulatorValue), params) }),
    update: (updates, state) => {
      const sumOfSquares = mapLike((g, s) => tf.add(s, tf.square(g)), updates, state.sumOfSquares);
      const out = mapLike(
        (g, s) => {
          const pos = tf.greater(s, 0);
          // The inner where keeps rsqrt away from 0 so its derivative stays finite.
          const inv = tf.rsqrt(tf.add(tf.where(pos, s, tf.onesLike(s)), eps));
          return tf.mul(g, tf.where(pos, inv, tf.zerosLike(s)));
        },
        updates,
        sumOfSquares,
      );
      return [out, { sumOfSquares }];
    },
  };
}
