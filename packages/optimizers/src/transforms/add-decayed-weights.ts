import * as tf from '@tensorflow/tfjs-core';
import { type Hyperparam, increment } from '../hyperparams.js';
import type { Schedule } from '../schedules/schedule.js';
import { type EmptyState, type GradientTransformation, requireParams } from '../transform.js';
import { mapLike } from '../tree-ops.js';
import type { ScaleByScheduleState } from './scale-by-schedule.js';

/**
 * Which leaves a transformation applies to: `true`/`false` for all, a pytree of booleans
 * shaped like the params, or a function from the params to such a tree.
 */
export type Mask = boolean | unknown | ((params: unknown) => unknown);

function maskLeaves(mask: Mask, params: unknown): boolean[] | undefined {
  if (mask === undefined || mask === null || mask === true) return undefined;
  const m = typeof mask === 'function' ? (mask as (p: unknown) => unknown)(params) : mask;
  if (m === false) return undefined;
  const out: boolean[] = [];
  // Walk the mask alongside the params: booleans are leaves of the mask tree.
  const walk = (node: unknown, p: unknown): void => {
    if (typeof node === 'boolean') {
      const n = countLeaves(p);
      for (let i = 0; i < n; i++) out.push(node);
      return;
    }
    if (Array.isArray(node)) {
      node.forEach((c, i) => walk(c, (p as unknown[])[i]));
      return;
    }
    if (node && typeof node === 'object') {
      for (const k of Object.keys(node).sort())
        walk((node as Record<string, unknown>)[k], (p as Record<string, unknown>)[k]);
    }
  };
  walk(m, params);
  return out;
}

function countLeaves(p: unknown): number {
  if (p instanceof tf.Tensor) return 1;
  if (Array.isArray(p)) return p.reduce((n: number, c) => n + countLeaves(c), 0);
  if (p && typeof p === 'object') return Object.values(p).reduce((n: number, c) => n + countLeaves(c), 0);
  return 0;
}

/**
 * Adds `weightDecay * params` to the updates (optax's `add_decayed_weights`), on the
 * leaves selected by `mask` (all by default). `weightDecay` may be a schedule.
 */
export function addDecayedWeights(
  weightDecay: Hyperparam | Schedule = 0,
  mask: Mask = true,
): GradientTransformation<EmptyState | ScaleByScheduleState> {
  const isSchedule = typeof weightDecay === 'function';
  const apply = <U>(updates: U, params: U, wd: Hyperparam): U => {
    const sel = maskLeaves(mask, params);
    let i = 0;
    return mapLike(
      (u, p) => {
        const on = sel ? sel[i] : true;
        i++;
        return on ? tf.add(u, tf.mul(p, wd)) : u;
      },
      updates,
      params,
    );
  };
  return {
    init: () => (isSchedule ? { count: tf.scalar(0, 'int32') } : ({} as EmptyState)),
    update: (updates, state, params) => {
      const ps = requireParams('addDecayedWeights', params);
      if (mask === false) return [updates, state];
      if (isSchedule) {
        const s = state as ScaleByScheduleState;
        return [apply(updates, ps, (weightDecay as Schedule)(s.count)), { count: increment(s.count) }];
      }
      if (typeof weightDecay === 'number' && weightDecay === 0) return [updates, state];
      return [apply(updates, ps, weightDecay as Hyperparam), state];
    },
  };
}
