import * as tf from '@tensorflow/tfjs-core';
import { biasCorrection, type Hyperparam, increment, oneMinus } from '../hyperparams.js';
import type { GradientTransformation } from '../transform.js';
import { mapLike } from '../tree-ops.js';

/** State of `ema`. */
export interface EmaState {
  /** Updates so far (int32 scalar). */
  count: tf.Scalar;
  /** The moving average. */
  ema: unknown;
}

/** An exponential moving average of the updates (optax's `ema`), bias-corrected when `debias` (default true). */
export function ema(decay: Hyperparam, debias = true): GradientTransformation<EmaState> {
  return {
    init: (params) => ({ count: tf.scalar(0, 'int32'), ema: mapLike((p) => tf.zerosLike(p), params) }),
    update: (updates, state) => {
      const count = increment(state.count);
      const e = mapLike((g, m) => tf.add(tf.mul(m, decay), tf.mul(g, oneMinus(decay))), updates, state.ema);
      const k = debias ? tf.reciprocal(biasCorrection(decay, count)) : undefined;
      return [k ? mapLike((m) => tf.mul(m, k), e) : e, { count, ema: e }];
    },
  };
}
