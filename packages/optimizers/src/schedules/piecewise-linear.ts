import * as tf from '@tensorflow/tfjs-core';
import { countAsFloat } from '../hyperparams.js';
import type { Schedule } from './schedule.js';

/**
 * Linear interpolation through the points `(times[i], vals[i])`, constant before the first
 * and after the last (the reference's `PiecewiseLinear`).
 */
export function piecewiseLinear(times: readonly number[], vals: readonly number[]): Schedule {
  if (times.length !== vals.length) throw new Error('piecewiseLinear: times and vals must have the same length');
  if (times.length === 0) throw new Error('piecewiseLinear: at least one point is needed');
  for (let i = 1; i < times.length; i++) {
    if (!(times[i]! > times[i - 1]!)) throw new Error('piecewiseLinear: times must increase strictly');
  }
  return (count) => {
    const t = countAsFloat(count);
    let v: tf.Tensor = tf.scalar(vals[0]!);
    for (let i = 0; i + 1 < times.length; i++) {
      const x1 = times[i]!;
      const x2 = times[i + 1]!;
      const slope = (vals[i + 1]! - vals[i]!) / (x2 - x1);
      const seg = tf.add(tf.mul(tf.sub(t, x1), slope), vals[i]!);
      v = tf.where(tf.greater(t, x1), seg, v);
    }
    return tf.where(tf.greater(t, times[times.length - 1]!), tf.scalar(vals[vals.length - 1]!), v);
  };
}
