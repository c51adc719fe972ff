import * as tf from '@tensorflow/tfjs-core';
import type { Hyperparam } from '../hyperparams.js';
import { sqrtWithRoot } from '../numerics.js';
import type { EmptyState, GradientTransformation } from '../transform.js';
import { mapLike } from '../tree-ops.js';

/**
 * Divides each leaf by `max(1, rms(leaf) / threshold)` (optax's `clip_by_block_rms`); the
 * rms's square root has a finite derivative for all-zero leaves.
 */
export function clipByBlockRms(threshold: Hyperparam): GradientTransformation<EmptyState> {
  return {
    init: () => ({}),
    update: (updates, state) => [
      mapLike((u) => tf.div(u, tf.maximum(1, tf.div(sqrtWithRoot(tf.mean(tf.square(u))), threshold))), updates),
      state,
    ],
  };
}
