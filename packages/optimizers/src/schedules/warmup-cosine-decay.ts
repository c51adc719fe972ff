import * as tf from '@tensorflow/tfjs-core';
import { countAsFloat } from '../hyperparams.js';
import type { Schedule } from './schedule.js';

/**
 * Linear warmup from `initValue` to `peakValue` over `warmupSteps`, then cosine decay to
 * `endValue` at `decaySteps` (counted from 0, warmup included), constant after (optax's
 * `warmup_cosine_decay_schedule`).
 */
export function warmupCosineDecay(
  initValue: number,
  peakValue: number,
  warmupSteps: number,
  decaySteps: number,
  endValue = 0,
  exponent = 1,
): Schedule {
  if (!(decaySteps > warmupSteps)) {
    throw new Error(`warmupCosineDecay: decaySteps (${decaySteps}) must exceed warmupSteps (${warmupSteps})`);
  }
  const span = decaySteps - warmupSteps;
  return (count) => {
    const t = countAsFloat(count);
    const warm =
      warmupSteps > 0
        ? tf.add(tf.mul(tf.div(tf.minimum(t, warmupSteps), warmupSteps), peakValue - initValue), initValue)
        : tf.scalar(peakValue);
    const s = tf.clipByValue(tf.sub(t, warmupSteps), 0, span);
    const c = tf.mul(tf.add(tf.cos(tf.mul(s, Math.PI / span)), 1), 0.5);
    const ce = exponent === 1 ? c : tf.pow(c, exponent);
    const decayed = tf.add(tf.mul(ce, peakValue - endValue), endValue);
    return tf.where(tf.less(t, warmupSteps), warm, decayed);
  };
}
