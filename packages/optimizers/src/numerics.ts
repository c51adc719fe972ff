import * as tf from '@tensorflow/tfjs-core';
import type { Hyperparam } from './hyperparams.js';

/** The smallest normal float32. */
const MIN_NORMAL_F32 = 1.1754943508222875e-38;

/**
 * `sqrt(x + add)` for `x >= 0` (a second moment) whose derivative stays finite at 0.
 *
 * `sqrt` has an infinite derivative at 0, and a second moment is exactly 0 wherever every
 * gradient so far was 0 (dead ReLU units): `0 * inf` then turns a meta-gradient into NaN.
 * With a positive `add` (Adam's `epsilonRoot`) the derivative is at most `0.5 / sqrt(add)`.
 * Otherwise the argument is floored at the smallest normal float32: the forward value
 * changes only where it is below 1.2e-38 (by at most 1.1e-19, far below any epsilon) and
 * the floor routes the gradient of exact zeros to the constant, so it is 0 there. This
 * costs one `maximum`, against the five extra ops of the `where(x > 0, sqrt(where(...)))`
 * form.
 */
export function sqrtWithRoot(x: tf.Tensor, add: Hyperparam = 0): tf.Tensor {
  if (typeof add === 'number' && add > 0) return tf.sqrt(tf.add(x, add));
  const y = typeof add === 'number' ? x : tf.add(x, add);
  return tf.sqrt(tf.maximum(y, MIN_NORMAL_F32));
}

/**
 * The L2 norm of `x`, replaced by `minNorm` where it is at most `minNorm` (optax's
 * `safe_norm`). The masked recomputation keeps the gradient finite when `x` is all zeros.
 */
export function safeNorm(x: tf.Tensor, minNorm: Hyperparam): tf.Scalar {
  const sq = tf.sum(tf.square(x));
  const small = tf.lessEqual(sq, typeof minNorm === 'number' ? minNorm * minNorm : tf.square(minNorm));
  const masked = tf.where(small, tf.onesLike(x), x);
  const norm = tf.sqrt(tf.sum(tf.square(masked)));
  return tf.where(small, tf.broadcastTo(tf.cast(minNorm, 'float32'), []), norm) as tf.Scalar;
}

/** The root mean square of `x`, replaced by `minRms` where it is at most `minRms` (optax's). */
export function safeRootMeanSquares(x: tf.Tensor, minRms: Hyperparam): tf.Scalar {
  const ms = tf.mean(tf.square(x));
  const small = tf.lessEqual(ms, typeof minRms === 'number' ? minRms * minRms : tf.square(minRms));
  const masked = tf.where(small, tf.onesLike(x), x);
  const rms = tf.sqrt(tf.mean(tf.square(masked)));
  return tf.where(small, tf.broadcastTo(tf.cast(minRms, 'float32'), []), rms) as tf.Scalar;
}
