import * as tf from '@tensorflow/tfjs-core';
import type { Hyperparam } from '../hyperparams.js';
import type { GradientTransformation } from '../transform.js';
import { mapLike } from '../tree-ops.js';

/** State of `trace`: the momentum buffer. */
export interface TraceState {
  /** `decay * trace + updates`, accumulated. */
  trace: unknown;
}

/**
 * Momentum (optax's `trace`): `t = decay * t + g`, returning `t`, or with Nesterov
 * `decay * t + g`.
 */
export function trace(decay: Hyperparam, nesterov = false): GradientTransformation<TraceState> {
  return {
    init: (params) => ({ trace: mapLike((p) => tf.zerosLike(p), params) }),
    update: (updates, state) => {
      const t = mapLike((g, tr) => tf.add(tf.mul(tr, decay), g), updates, state.trace);
      const out = nesterov ? mapLike((g, tr) => tf.add(tf.mul(tr, decay), g), updates, t) : t;
      return [out, { trace: t }];
    },
  };
}
