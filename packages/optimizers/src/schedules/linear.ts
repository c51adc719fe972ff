import * as tf from '@tensorflow/tfjs-core';
import { countAsFloat } from '../hyperparams.js';
import type { Schedule } from './schedule.js';

/**
 * Linear interpolation from `initValue` to `endValue` over `transitionSteps` steps,
 * starting at `transitionBegin`, constant outside (optax's `linear_schedule`).
 */
export function linear(initValue: number, endValue: number, transitionSteps: number, transitionBegin = 0): Schedule {
  if (!(transitionSteps > 0)) return () => initValue;
  return (count) => {
    const t = tf.clipByValue(tf.sub(countAsFloat(count), transitionBegin), 0, transitionSteps);
    return tf.add(tf.mul(tf.div(t, transitionSteps), endValue - initValue), initValue);
  };
}
