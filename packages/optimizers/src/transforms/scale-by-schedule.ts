import * as tf from '@tensorflow/tfjs-core';
import { increment } from '../hyperparams.js';
import type { Schedule } from '../schedules/schedule.js';
import type { GradientTransformation } from '../transform.js';
import { mapLike } from '../tree-ops.js';

/** State of `scaleBySchedule`: the number of updates so far. */
export interface ScaleByScheduleState {
  /** Updates so far (int32 scalar). */
  count: tf.Scalar;
}

/** Multiplies updates by `stepSizeFn(count)`, the count starting at 0 (optax's `scale_by_schedule`). */
export function scaleBySchedule(stepSizeFn: Schedule): GradientTransformation<ScaleByScheduleState> {
  return {
    init: () => ({ count: tf.scalar(0, 'int32') }),
    update: (updates, state) => {
      const s = stepSizeFn(state.count);
      return [mapLike((u) => tf.mul(u, s), updates), { count: increment(state.count) }];
    },
  };
}
