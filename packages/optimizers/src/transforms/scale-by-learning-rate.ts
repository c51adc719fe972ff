import * as tf from '@tensorflow/tfjs-core';
import { negate } from '../hyperparams.js';
import type { ScalarOrSchedule } from '../schedules/schedule.js';
import type { EmptyState, GradientTransformation } from '../transform.js';
import { scale } from './scale.js';
import { type ScaleByScheduleState, scaleBySchedule } from './scale-by-schedule.js';

/**
 * Scales updates by the learning rate, a value or a schedule, with the sign flipped by
 * default so that the result is added to the params (optax's `scale_by_learning_rate`).
 */
export function scaleByLearningRate(
  learningRate: ScalarOrSchedule,
  flipSign = true,
): GradientTransformation<EmptyState | ScaleByScheduleState> {
  if (typeof learningRate === 'function') {
    return scaleBySchedule((count) => {
      const lr = learningRate(count);
      return flipSign ? (typeof lr === 'number' ? -lr : tf.neg(lr)) : lr;
    }) as GradientTransformation<EmptyState | ScaleByScheduleState>;
  }
  return scale(flipSign ? negate(learningRate) : learningRate) as GradientTransformation<
    EmptyState | ScaleByScheduleState
  >;
}
