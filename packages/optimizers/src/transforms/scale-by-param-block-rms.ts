import * as tf from '@tensorflow/tfjs-core';
import type { Hyperparam } from '../hyperparams.js';
import { safeRootMeanSquares } from '../numerics.js';
import { type EmptyState, type GradientTransformation, requireParams } from '../transform.js';
import { mapLike } from '../tree-ops.js';

/** Multiplies each leaf's update by the rms of its param, at least `minScale` (default 1e-3; optax's `scale_by_param_block_rms`). */
export function scaleByParamBlockRms(minScale: Hyperparam = 1e-3): GradientTransformation<EmptyState> {
  return {
    init: () => ({}),
    update: (updates, state, params) => [
      mapLike(
        (u, p) => tf.mul(u, safeRootMeanSquares(p, minScale)),
        updates,
        requireParams('scaleByParamBlockRms', params),
      ),
      state,
    ],
  };
}
