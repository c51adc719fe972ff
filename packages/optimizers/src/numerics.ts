import { stopGradient } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { Hyperparam } from './hyperparams.js';

/** The smallest normal float32. */
const MIN_NORMAL_F32 = 1.1754943508222875e-38;
/** The largest float32. */
const MAX_F32 = 3.4028234663852886e38;

/**
 * `sqrt(x + add)` for `x >= 0` (a second moment) whose derivative stays finite at 0.
 *
 * `sqrt` has an infinite derivative at 0, and a second moment is exactly 0 wherever every
 * gradient so far was 0 (dead ReLU units): `0 * inf` then turns a meta-gradient into NaN.
 * When `add` is known to be positive (`addIsPositive`, or a positive number, like Adam's
 * `epsRoot`) the derivative is at most `0.5 / sqrt(add)` and the plain form is used.
 * Otherwise the argument is clipped from below at the smallest normal float32: the
 * forward value changes only where it is below 1.2e-38 (by at most 1.1e-19, far below any
 * epsilon), and the clip routes the gradient of exact zeros to the constant, so it is 0
 * there. One unary `clipByValue` is cheaper than the `where(x > 0, sqrt(where(...)), 0)`
 * form (five more ops) and than a broadcasting `maximum` (slow on wasm).
 */
export function sqrtWithRoot(x: tf.Tensor, add: Hyperparam = 0, addIsPositive = false): tf.Tensor {
  if (addIsPositive || (typeof add === 'number' && add > 0)) return tf.sqrt(tf.add(x, add));
  const y = typeof add === 'number' && add === 0 ? x : tf.add(x, add);
  return tf.sqrt(tf.clipByValue(y, MIN_NORMAL_F32, MAX_F32));
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
  return tf.where(small, typeof minNorm === 'number' ? tf.scalar(minNorm) : minNorm, norm) as tf.Scalar;
}

/** The root mean square of `x`, replaced by `minRms` where it is at most `minRms` (optax's). */
export function safeRootMeanSquares(x: tf.Tensor, minRms: Hyperparam): tf.Scalar {
  const ms = tf.mean(tf.square(x));
  const small = tf.lessEqual(ms, typeof minRms === 'number' ? minRms * minRms : tf.square(minRms));
  const masked = tf.where(small, tf.onesLike(x), x);
  const rms = tf.sqrt(tf.mean(tf.square(masked)));
  return tf.where(small, typeof minRms === 'number' ? tf.scalar(minRms) : minRms, rms) as tf.Scalar;
}

/**
 * `rsqrt(x)` for `x > 0` whose gradient stays finite where `x` is tiny: below `floor` the
 * value is the same but taken as a constant. Adafactor's second moments sit at its
 * epsilon (1e-30) for dead units, where the derivative `-0.5 x^-1.5` (5e44) overflows
 * float32 and `0 * inf` would make meta-gradients NaN; those units have zero gradient, so
 * the dropped derivative multiplies 0 anyway.
 */
export function safeRsqrt(x: tf.Tensor, floor = 1e-20): tf.Tensor {
  const big = tf.greater(x, floor);
  const live = tf.rsqrt(tf.where(big, x, tf.onesLike(x)));
  // The graph is cut before rsqrt: a zero cotangent reaching rsqrt itself would still
  // be multiplied by its infinite derivative (0 * inf = NaN).
  return tf.where(big, live, tf.rsqrt(stopGradient(x)));
}
