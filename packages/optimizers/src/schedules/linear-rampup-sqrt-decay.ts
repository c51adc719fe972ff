import * as tf from '@tensorflow/tfjs-core';
import { countAsFloat } from '../hyperparams.js';
import type { Schedule } from './schedule.js';

/**
 * `peakLr * min(t / warmupSteps, sqrt(warmupSteps / t))` with `t = max(step, 1)` (the
 * reference's `LinearRampupSqrtDecay`; defaults peakLr 1e-3, warmupSteps 1000).
 */
export function linearRampupSqrtDecay(peakLr = 1e-3, warmupSteps = 1000): Schedule {
  if (!(warmupSteps > 0)) throw new Error(`linearRampupSqrtDecay: warmupSteps must be > 0, got ${warmupSteps}`);
  return (count) => {
    const t = tf.maximum(countAsFloat(count), 1);
    return tf.mul(tf.minimum(tf.div(t, warmupSteps), tf.sqrt(tf.div(warmupSteps, t))), peakLr);
  };
}
