import type * as tf from '@tensorflow/tfjs-core';
import type { Hyperparam } from '../hyperparams.js';

/**
 * A schedule: the value of a hyperparameter (usually the learning rate) as a function of
 * the update count, an int32 scalar tensor. Built from tensor ops, so it works on counts
 * held in an optimizer state and is differentiable in tensor-valued arguments.
 */
export type Schedule = (count: tf.Tensor) => Hyperparam;

/** A hyperparameter that is either a fixed value or a schedule. */
export type ScalarOrSchedule = Hyperparam | Schedule;
