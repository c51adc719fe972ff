import * as tf from '@tensorflow/tfjs-core';
import { countAsFloat } from '../hyperparams.js';
import type { Schedule } from './schedule.js';

/** Options of `exponentialDecay`. */
export interface ExponentialDecayOptions {
  /** Steps before the decay starts (default 0). */
  transitionBegin?: number;
  /** Decay in whole steps of `transitionSteps` (default false). */
  staircase?: boolean;
  /** A floor (when decaying) or ceiling (when growing) on the value. */
  endValue?: number;
}

/**
 * `initValue * decayRate^((t - transitionBegin) / transitionSteps)`, constant before
 * `transitionBegin` (optax's `exponential_decay`).
 */
export function exponentialDecay(
  initValue: number,
  transitionSteps: number,
  decayRate: number,
  opts: ExponentialDecayOptions = {},
): Schedule {
  const { transitionBegin = 0, staircase = false, endValue } = opts;
  if (!(transitionSteps > 0)) throw new Error(`exponentialDecay: transitionSteps must be > 0, got ${transitionSteps}`);
  if (!(decayRate > 0)) throw new Error(`exponentialDecay: decayRate must be > 0, got ${decayRate}`);
  const logRate = Math.log(decayRate);
  return (count) => {
    let p = tf.div(tf.maximum(tf.sub(countAsFloat(count), transitionBegin), 0), transitionSteps);
    if (staircase) p = tf.floor(p);
    let v = tf.mul(tf.exp(tf.mul(p, logRate)), initValue);
    if (endValue !== undefined) v = decayRate < 1 ? tf.maximum(v, endValue) : tf.minimum(v, endValue);
    return v;
  };
}
