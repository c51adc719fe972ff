import type { Hyperparam } from '../hyperparams.js';
import type { Schedule } from './schedule.js';

/** The schedule that is always `value` (optax's `constant_schedule`). */
export function constant(value: Hyperparam): Schedule {
  return () => value;
}
