import * as tf from '@tensorflow/tfjs-core';

/**
 * A hyperparameter: a plain number, or a scalar tensor (learned optimizers pass values
 * derived from their meta-parameters and differentiate through `update`).
 */
export type Hyperparam = number | tf.Tensor;

/** `1 - x`, kept a number when `x` is one (so no tensor is made for constants). */
export function oneMinus(x: Hyperparam): Hyperparam {
  return typeof x === 'number' ? 1 - x : tf.sub(1, x);
}

/** `-x`, kept a number when `x` is one. */
export function negate(x: Hyperparam): Hyperparam {
  return typeof x === 'number' ? -x : tf.neg(x);
}

/** `a * b`, kept a number when both are numbers. */
export function mulHp(a: Hyperparam, b: Hyperparam): Hyperparam {
  return typeof a === 'number' && typeof b === 'number' ? a * b : tf.mul(a, b);
}

/** `a / b`, kept a number when both are numbers. */
export function divHp(a: Hyperparam, b: Hyperparam): Hyperparam {
  return typeof a === 'number' && typeof b === 'number' ? a / b : tf.div(a, b);
}

/** `count` (an int32 scalar) as a float32 scalar. */
export function countAsFloat(count: tf.Tensor): tf.Scalar {
  return (count.dtype === 'float32' ? count : tf.cast(count, 'float32')) as tf.Scalar;
}

/**
 * `1 - decay^count`, the bias correction of an exponential moving average after `count`
 * steps, computed as `-expm1(count * log(decay))` (with `log(decay)` in float64 when
 * `decay` is a number): `1 - pow(float32(0.999), t)` loses about 1e-5 relative accuracy,
 * this form keeps about 1e-7. A tensor decay (a learned one) may be pushed to 0 or below
 * by meta-training, where `log` is undefined: there `decay^count` is taken as
 * `sign^count * |decay|^count`, as `pow` would.
 */
export function biasCorrection(decay: Hyperparam, count: tf.Tensor): tf.Scalar {
  const n = countAsFloat(count);
  if (typeof decay === 'number') return tf.neg(tf.expm1(tf.mul(n, Math.log(decay)))) as tf.Scalar;
  const e = tf.expm1(tf.mul(n, tf.log(tf.abs(decay)))); // |decay|^n - 1
  const negative = tf.logicalAnd(tf.less(decay, 0), tf.equal(tf.floorDiv(n, 2), tf.div(tf.sub(n, 1), 2)));
  return tf.where(negative, tf.add(e, 2), tf.neg(e)) as tf.Scalar;
}

/**
 * Throws when a numeric hyperparameter is out of range. Tensor hyperparameters are not
 * read (that would stall the device), so they are not checked.
 */
export function checkRange(
  owner: string,
  name: string,
  value: Hyperparam | undefined,
  {
    min,
    max,
    minExclusive = false,
    maxExclusive = false,
  }: { min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean },
): void {
  if (typeof value !== 'number') return;
  const bad =
    Number.isNaN(value) ||
    (min !== undefined && (minExclusive ? value <= min : value < min)) ||
    (max !== undefined && (maxExclusive ? value >= max : value > max));
  if (bad) {
    const lo = min === undefined ? '' : `${minExclusive ? '>' : '>='} ${min}`;
    const hi = max === undefined ? '' : `${maxExclusive ? '<' : '<='} ${max}`;
    throw new Error(`${owner}: ${name} must be ${[lo, hi].filter(Boolean).join(' and ')}, got ${value}`);
  }
}

/** `count + 1`, keeping an int32 count int32 (`tf.add(count, 1)` would make it float32). */
export function increment(count: tf.Tensor): tf.Scalar {
  // tidy: the constant 1 is freed even when called outside a tidy scope.
  return tf.tidy(() => tf.add(count, tf.scalar(1, count.dtype)) as tf.Scalar);
}

/** `checkRange` for a learning rate, which may also be a schedule (not checked). */
export function checkLearningRate(owner: string, lr: Hyperparam | ((count: tf.Tensor) => Hyperparam)): void {
  if (typeof lr === 'function') return;
  checkRange(owner, 'learningRate', lr, { min: 0 });
}

/** `checkRange` for a decay rate in [0, 1). */
export function checkDecay(owner: string, name: string, value: Hyperparam | undefined): void {
  checkRange(owner, name, value, { min: 0, max: 1, maxExclusive: true });
}
