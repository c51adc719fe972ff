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

/** `log(x)`, kept a number when `x` is one (computed in float64 then). */
export function logHp(x: Hyperparam): Hyperparam {
  return typeof x === 'number' ? Math.log(x) : tf.log(x);
}

/** `count` (an int32 scalar) as a float32 scalar. */
export function countAsFloat(count: tf.Tensor): tf.Scalar {
  return (count.dtype === 'float32' ? count : tf.cast(count, 'float32')) as tf.Scalar;
}

/**
 * `1 - decay^count`, the bias correction of an exponential moving average after `count`
 * steps. It is computed as `-expm1(count * log(decay))` with `log(decay)` in float64 when
 * `decay` is a number: `1 - pow(float32(0.999), t)` loses about 1e-5 relative accuracy,
 * this form keeps about 1e-7.
 */
export function biasCorrection(decay: Hyperparam, count: tf.Tensor): tf.Scalar {
  return tf.neg(tf.expm1(tf.mul(countAsFloat(count), logHp(decay)))) as tf.Scalar;
}

/**
 * Throws when a numeric hyperparameter is out of range. Tensor hyperparameters are not
 * read (that would stall the device), so they are not checked.
 */
export function checkRange(
  owner: string,
  name: string,
  value: Hyperparam | undefined,
  { min, max, minExclusive = false, maxExclusive = false }: { min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean },
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
