import type { Datasets } from '@lopt/datasets';
import { type PRNGKey, type PyTree, tidy, treeLeaves } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { Aux, Task } from '../task.js';

const METHODS = [
  'init',
  'initWithState',
  'loss',
  'lossWithState',
  'lossAndAux',
  'lossWithStateAndAux',
  'normalizer',
] as const;

/**
 * A task that changes another task's parameters, data or loss on the way through (the
 * base of the augmentations). Subclasses override `toInnerParams` (parameters as the
 * wrapped task sees them), `fromInnerParams` (initial parameters), `toInnerData` and
 * `outerLoss` (the loss the optimizer sees); every loss variant, model state and aux
 * output goes through the same path. Methods are bound, so `valueAndGrad(task.loss)` works.
 */
export abstract class TaskWrapper<P = unknown, D = unknown, S = unknown> implements Task<P, D, S> {
  /** The wrapped task's data. */
  readonly datasets?: Datasets;

  /** Wraps `task`. */
  constructor(readonly task: Task<P, D, S>) {
    this.datasets = task.datasets;
    const rec = this as unknown as Record<string, unknown>;
    for (const m of METHODS) rec[m] = (rec[m] as (...a: unknown[]) => unknown).bind(this);
  }

  /** The task's name. */
  abstract get name(): string;

  /** Parameters as the wrapped task sees them (default: unchanged). */
  protected toInnerParams(params: P): P {
    return params;
  }

  /** Initial parameters from the wrapped task's (default: unchanged). */
  protected fromInnerParams(params: P): P {
    return params;
  }

  /** The batch as the wrapped task sees it (default: unchanged). */
  protected toInnerData(data: D): D {
    return data;
  }

  /** The loss the optimizer sees, from the wrapped task's (default: unchanged). */
  protected outerLoss(loss: tf.Scalar): tf.Scalar {
    return loss;
  }

  /** The wrapped task's loss back from an outer one, for the normaliser (default: unchanged). */
  protected innerLossForNormalizer(loss: tf.Tensor): tf.Tensor {
    return loss;
  }

  /** Fresh parameters (mapped by `fromInnerParams`) and the wrapped task's model state. */
  initWithState(key: PRNGKey): [P, S] {
    const [p, s] = this.task.initWithState(key);
    const out = tidy(() => this.fromInnerParams(p));
    if (out !== p) tidyDispose(p, out);
    return [out, s];
  }

  /** Fresh parameters. */
  init(key: PRNGKey): P {
    return this.initWithState(key)[0];
  }

  /** The loss, the next model state and the aux outputs. */
  lossWithStateAndAux(params: P, state: S, key: PRNGKey, data: D): [tf.Scalar, S, Aux] {
    return tidy(() => {
      const [l, s, aux] = this.task.lossWithStateAndAux(this.toInnerParams(params), state, key, this.toInnerData(data));
      return [this.outerLoss(l), s, aux] as [tf.Scalar, S, Aux];
    });
  }

  /** The scalar loss. */
  loss(params: P, key: PRNGKey, data: D): tf.Scalar {
    return tidy(() => this.outerLoss(this.task.loss(this.toInnerParams(params), key, this.toInnerData(data))));
  }

  /** The loss and the next model state. */
  lossWithState(params: P, state: S, key: PRNGKey, data: D): [tf.Scalar, S] {
    return tidy(() => {
      const [l, s] = this.task.lossWithState(this.toInnerParams(params), state, key, this.toInnerData(data));
      return [this.outerLoss(l), s] as [tf.Scalar, S];
    });
  }

  /** The loss and the aux outputs. */
  lossAndAux(params: P, key: PRNGKey, data: D): [tf.Scalar, Aux] {
    return tidy(() => {
      const [l, aux] = this.task.lossAndAux(this.toInnerParams(params), key, this.toInnerData(data));
      return [this.outerLoss(l), aux] as [tf.Scalar, Aux];
    });
  }

  /** The wrapped task's normaliser, applied to the loss mapped back by `innerLossForNormalizer`. */
  normalizer(loss: tf.Tensor): tf.Tensor {
    return tidy(() => this.task.normalizer(this.innerLossForNormalizer(loss)));
  }
}

// Frees the wrapped task's initial parameters that the mapped ones do not reuse.
function tidyDispose(old: unknown, keep: unknown): void {
  const tensors = (x: unknown) =>
    treeLeaves(x as PyTree<unknown>).filter((t): t is tf.Tensor => t instanceof tf.Tensor);
  const kept = new Set(tensors(keep));
  for (const t of tensors(old)) if (!kept.has(t) && !t.isDisposed) t.dispose();
}
