import * as tf from '@tensorflow/tfjs-core';
import type { Hyperparam } from '../hyperparams.js';
import type { EmptyState, GradientTransformation } from '../transform.js';
import { mapLike } from '../tree-ops.js';

/** Multiplies updates by a fixed `stepSize` (optax's `scale`). */
export function scale(stepSize: Hyperparam): GradientTransformation<EmptyState> {
  return {
    init: () => ({}),
    update: (updates, state) => [mapLike((u) => tf.mul(u, stepSize), updates), state],
  };
}
