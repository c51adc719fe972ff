import { type PRNGKey, random, type TreeDef, treeFlatten, treeUnflatten } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { Task } from '../task.js';
import { TaskWrapper } from './task-wrapper.js';

/**
 * How {@link ReparamWeights} scales the parameters: one number for all; one number per
 * parameter tensor (in `treeFlatten` order); or per element, drawn log-uniformly in
 * `range` from `key` (one key per tensor, split off `key`), recomputed at each call so
 * the task holds no tensors.
 */
export type ParamScale =
  | number
  | readonly number[]
  | { key: PRNGKey | readonly number[]; range: readonly [number, number] };

/**
 * The reference's `ReparamWeights`: the wrapped task sees `w * paramScale` where the
 * optimizer holds `w`, and initial parameters are divided by `paramScale`. The function
 * the network computes is the same; the loss landscape in `w` is stretched, so gradients
 * are `paramScale` times larger and the curvature `paramScale^2` times larger, which an
 * optimizer must cope with.
 */
export class ReparamWeights<P = unknown, D = unknown, S = unknown> extends TaskWrapper<P, D, S> {
  /** The scale, as given. */
  readonly paramScale: ParamScale;

  /** Wraps `task` with `paramScale` (positive and finite). */
  constructor(task: Task<P, D, S>, paramScale: ParamScale) {
    super(task);
    const check = (x: number) => {
      if (!(typeof x === 'number' && Number.isFinite(x) && x > 0)) {
        throw new Error(`ReparamWeights: every param scale must be a positive finite number, got ${x}`);
      }
    };
    if (typeof paramScale === 'number') check(paramScale);
    else if (Array.isArray(paramScale)) (paramScale as number[]).forEach(check);
    else {
      const r = (paramScale as { range: readonly [number, number] }).range;
      r.forEach(check);
    }
    this.paramScale = paramScale;
  }

  /** `ReparamWeights_<task>`. */
  get name(): string {
    return `ReparamWeights_${this.task.name}`;
  }

  /** The scale of each parameter tensor (numbers broadcast, or per-element tensors). */
  private scales(params: P): [tf.Tensor[], TreeDef, (number | tf.Tensor)[]] {
    const [leaves, def] = treeFlatten(params as never) as [tf.Tensor[], TreeDef];
    const s = this.paramScale;
    if (typeof s === 'number') return [leaves, def, leaves.map(() => s)];
    if (Array.isArray(s)) {
      if (s.length !== leaves.length) {
        throw new Error(`${this.name}: ${s.length} param scales given for ${leaves.length} parameter tensors`);
      }
      return [leaves, def, s.slice()];
    }
    const { key, range } = s as { key: PRNGKey | readonly number[]; range: readonly [number, number] };
    const k = key instanceof Uint32Array ? key : Uint32Array.from(key as readonly number[]);
    const keys = random.split(k as PRNGKey, leaves.length);
    const [lo, hi] = [Math.log(range[0]), Math.log(range[1])];
    return [leaves, def, leaves.map((l, i) => tf.exp(random.uniform(keys[i]!, l.shape, lo, hi)))];
  }

  /** `w * paramScale`. */
  protected override toInnerParams(params: P): P {
    const [leaves, def, scales] = this.scales(params);
    return treeUnflatten(
      def,
      leaves.map((l, i) => tf.mul(l, scales[i]!)),
    ) as P;
  }

  /** `w0 / paramScale`. */
  protected override fromInnerParams(params: P): P {
    const [leaves, def, scales] = this.scales(params);
    return treeUnflatten(
      def,
      leaves.map((l, i) => tf.div(l, scales[i]!)),
    ) as P;
  }
}
