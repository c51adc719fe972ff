import * as tf from '@tensorflow/tfjs-core';
import type { Task } from '../task.js';
import { TaskWrapper } from './task-wrapper.js';

/**
 * The reference's `ReducedBatchsizeTask`: every batch is cut to its first
 * `max(1, floor(B * fraction))` examples before the wrapped task sees it, so one data
 * stream serves tasks of several batch sizes (the rest of each batch is not used). The
 * cut happens inside the loss, so tasks of different fractions can share one family's
 * data stream during meta-training.
 */
export class ReducedBatchsize<P = unknown, D = unknown, S = unknown> extends TaskWrapper<P, D, S> {
  /** Wraps `task`; `fraction` is in (0, 1]. */
  constructor(
    task: Task<P, D, S>,
    readonly fraction: number,
  ) {
    super(task);
    if (!(typeof fraction === 'number' && fraction > 0 && fraction <= 1)) {
      throw new Error(`ReducedBatchsize: fraction must be in (0, 1], got ${fraction}`);
    }
  }

  /** `ReducedBatchsize_<task>`. */
  get name(): string {
    return `ReducedBatchsize_${this.task.name}`;
  }

  /** The batch size `fraction` leaves of a batch of `batchSize`. */
  reducedSize(batchSize: number): number {
    return Math.max(1, Math.floor(batchSize * this.fraction));
  }

  /** Every tensor of the batch cut along its leading axis. */
  protected override toInnerData(data: D): D {
    const cut = (x: unknown): unknown => {
      if (x instanceof tf.Tensor) return x.rank === 0 ? x : tf.slice(x, 0, this.reducedSize(x.shape[0]!));
      if (Array.isArray(x)) return x.map(cut);
      if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, cut(v)]));
      return x;
    };
    return cut(data) as D;
  }
}
