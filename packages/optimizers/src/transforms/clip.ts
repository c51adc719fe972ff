import * as tf from '@tensorflow/tfjs-core';
import type { EmptyState, GradientTransformation } from '../transform.js';
import { mapLike } from '../tree-ops.js';

/** Clips every update element to `[-maxDelta, maxDelta]` (optax's `clip`). */
export function clip(maxDelta: number): GradientTransformation<EmptyState> {
  if (!(maxDelta >= 0)) throw new Error(`clip: maxDelta must be >= 0, got ${maxDelta}`);
  return {
    init: () => ({}),
    update: (updates, state) => [mapLike((u) => tf.clipByValue(u, -maxDelta, maxDelta), updates), state],
  };
}
