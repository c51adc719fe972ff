import { type PyTree, treeLeaves } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { Hyperparam } from '../hyperparams.js';
import type { EmptyState, GradientTransformation } from '../transform.js';
import { mapLike } from '../tree-ops.js';

/**
 * Rescales the updates so their global L2 norm is at most `maxNorm` (optax's
 * `clip_by_global_norm`). The norm is over all leaves, so it is the same on the raveled
 * vector and the transformation counts as elementwise.
 */
export function clipByGlobalNorm(maxNorm: Hyperparam): GradientTransformation<EmptyState> {
  return {
    init: () => ({}),
    update: (updates, state) => {
      const leaves = treeLeaves(updates as PyTree);
      if (leaves.length === 0) return [updates, state];
      const sq = tf.addN(leaves.map((u) => tf.sum(tf.square(u))));
      const small = tf.less(sq, tf.square(maxNorm));
      // Where the norm is under the limit, the masked sqrt argument keeps the gradient finite.
      const norm = tf.sqrt(tf.where(small, tf.onesLike(sq), sq));
      const factor = tf.where(small, tf.onesLike(sq), tf.div(maxNorm, norm));
      return [mapLike((u) => tf.mul(u, factor), updates), state];
    },
  };
}
