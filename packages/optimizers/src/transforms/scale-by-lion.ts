import * as tf from '@tensorflow/tfjs-core';
import { type Hyperparam, increment, oneMinus } from '../hyperparams.js';
import type { GradientTransformation } from '../transform.js';
import { mapLike } from '../tree-ops.js';

/** State of `scaleByLion`. */
export interface ScaleByLionState {
  /** Updates so far (int32 scalar). */
  count: tf.Scalar;
  /** The momentum. */
  mu: unknown;
}

/**
 * Lion's rescaling (optax's `scale_by_lion`, Chen et al. 2023):
 * `sign((1 - b1) g + b1 m)`, then `m = b2 m + (1 - b2) g`. Defaults b1 0.9, b2 0.99.
 * `sign` has zero derivative, so gradients through it are 0 (as in JAX).
 */
export function scaleByLion(b1: Hyperparam = 0.9, b2: Hyperparam = 0.99): GradientTransformation<ScaleByLionState> {
  return {
    init: (params) => ({ count: tf.scalar(0, 'int32'), mu: mapLike((p) => tf.zerosLike(p), params) }),
    update: (updates, state) => {
      const out = mapLike((g, m) => tf.sign(tf.add(tf.mul(g, oneMinus(b1)), tf.mul(m, b1))), updates, state.mu);
      const mu = mapLike((g, m) => tf.add(tf.mul(m, b2), tf.mul(g, oneMinus(b2))), updates, state.mu);
      return [out, { count: increment(state.count), mu }];
    },
  };
}
