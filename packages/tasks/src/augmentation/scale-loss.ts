import { stopGradient } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { Task } from '../task.js';
import { TaskWrapper } from './task-wrapper.js';

function checkScale(scale: number, where: string): void {
  if (!(typeof scale === 'number' && Number.isFinite(scale) && scale > 0)) {
    throw new Error(`${where}: scale must be a positive finite number, got ${scale}`);
  }
}

/**
 * The loss multiplied by `scale`: the optimizer sees `scale * loss` and `scale` times the
 * gradient. The normaliser divides the scale out first, so meta-losses stay comparable
 * with the unscaled task.
 */
export class ScaleLoss<P = unknown, D = unknown, S = unknown> extends TaskWrapper<P, D, S> {
  /** Wraps `task`; `scale` is positive. */
  constructor(
    task: Task<P, D, S>,
    readonly scale: number,
  ) {
    super(task);
    checkScale(scale, 'ScaleLoss');
  }

  /** `ScaleLoss_<task>`. */
  get name(): string {
    return `ScaleLoss_${this.task.name}`;
  }

  /** `scale * loss`. */
  protected override outerLoss(loss: tf.Scalar): tf.Scalar {
    return tf.mul(loss, this.scale);
  }

  /** `loss / scale`. */
  protected override innerLossForNormalizer(loss: tf.Tensor): tf.Tensor {
    return tf.div(loss, this.scale);
  }
}

/**
 * The gradient multiplied by `scale`, the loss value unchanged (the reference's
 * `ModifyTaskGradient` with a scaling function). Written as
 * `L' = sg(L) + scale * (L - sg(L))` with `sg` the stop-gradient, so the value is `L`
 * exactly and every derivative is `scale` times the wrapped task's.
 */
export class ScaleGradient<P = unknown, D = unknown, S = unknown> extends TaskWrapper<P, D, S> {
  /** Wraps `task`; `scale` is positive. */
  constructor(
    task: Task<P, D, S>,
    readonly scale: number,
  ) {
    super(task);
    checkScale(scale, 'ScaleGradient');
  }

  /** `ScaleGradient_<task>`. */
  get name(): string {
    return `ScaleGradient_${this.task.name}`;
  }

  /** Same value, `scale` times the gradient. */
  protected override outerLoss(loss: tf.Scalar): tf.Scalar {
    const fixed = stopGradient(loss);
    return tf.add(fixed, tf.mul(tf.sub(loss, fixed), this.scale));
  }
}
