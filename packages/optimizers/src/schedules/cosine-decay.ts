import * as tf from '@tensorflow/tfjs-core';
import { countAsFloat } from '../hyperparams.js';
import type { Schedule } from './schedule.js';

/**
 * Cosine decay from `initValue` to `alpha * initValue` over `decaySteps`, constant after
 * (optax's `cosine_decay_schedule`): `init * ((1 - alpha) c^exponent + alpha)` with
 * `c = (1 + cos(pi min(t, decaySteps) / decaySteps)) / 2`.
 */
export function cosineDecay(initValue: number, decaySteps: number, alpha = 0, exponent = 1): Schedule {
  if (!(decaySteps > 0)) throw new Error(`cosineDecay: decaySteps must be > 0, got ${decaySteps}`);
  return (count) => {
    const t = tf.minimum(countAsFloat(count), decaySteps);
    const c = tf.mul(tf.add(tf.cos(tf.mul(t, Math.PI / decaySteps)), 1), 0.5);
    const ce = exponent === 1 ? c : tf.pow(c, exponent);
    return tf.mul(tf.add(tf.mul(ce, 1 - alpha), alpha), initValue);
  };
}
