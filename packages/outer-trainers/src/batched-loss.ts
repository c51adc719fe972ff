import type { PRNGKey } from '@lopt/pytree';
import { treeMap } from '@lopt/pytree';
import { hasBatchedLoss, type Task, batchedLoss as tasksBatchedLoss } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';

/**
 * The losses of n problems at once, `[n]`: `tasks[i]` at `params[i]` on `datas[i]`.
 * Differentiable in the parameters, so one gradient call serves all n problems.
 */
export type LossesFn = <P, D>(tasks: Task<P, D>[], params: P[], keys: PRNGKey[], datas: D[]) => tf.Tensor1D;

/**
 * A loss evaluated on parameters stacked on a leading axis: `stackedParams` leaves are
 * `[n, ...]`, `datas` holds one batch per problem; returns the n losses, `[n]`. The tasks
 * package's batched loss helper has this form; with it, n problems cost one batched
 * forward and backward pass instead of n.
 */
export type BatchedLossFn = <P, D>(task: Task<P, D>, stackedParams: P, keys: PRNGKey[], datas: D[]) => tf.Tensor1D;

/** The n losses computed one problem at a time (works for any family). */
export function loopedLosses<P, D>(tasks: Task<P, D>[], params: P[], keys: PRNGKey[], datas: D[]): tf.Tensor1D {
  return tf.tidy(() =>
    tf.stack(tasks.map((t, i) => tf.reshape(t.loss(params[i]!, keys[i]!, datas[i]!), []))),
  ) as tf.Tensor1D;
}

function sameShapes(params: unknown[]): boolean {
  const shapesOf = (p: unknown) => JSON.stringify(treeMap((x) => x.shape, p));
  const first = shapesOf(params[0]);
  return params.every((p) => shapesOf(p) === first);
}

/**
 * A `LossesFn` that runs `batched` when the n problems are one task with equally shaped
 * parameters (stacking them on a leading axis), and falls back to one problem at a
 * time otherwise (a family whose tasks differ cannot share one batched call).
 */
export function stackedLosses(batched: BatchedLossFn): LossesFn {
  return <P, D>(tasks: Task<P, D>[], params: P[], keys: PRNGKey[], datas: D[]): tf.Tensor1D => {
    const oneTask = tasks.every((t) => t === tasks[0]);
    if (!oneTask || !sameShapes(params)) return loopedLosses(tasks, params, keys, datas);
    return tf.tidy(() => {
      const stacked = treeMap((...xs: tf.Tensor[]) => tf.stack(xs), params[0], ...params.slice(1)) as P;
      const l = batched(tasks[0]!, stacked, keys, datas);
      if (l.rank !== 1 || l.shape[0] !== tasks.length) {
        throw new Error(`batched loss: expected ${tasks.length} losses, got shape [${l.shape.join(', ')}]`);
      }
      return l;
    });
  };
}

/** Stacks K batches (pytrees of tensors) on a new leading axis; `undefined` data stays `undefined`. */
export function stackBatches<D>(datas: D[]): D {
  if (datas.every((d) => d === undefined || d === null)) return datas[0] as D;
  return treeMap((...xs: tf.Tensor[]) => tf.stack(xs), datas[0], ...datas.slice(1)) as D;
}

/**
 * The default `BatchedLossFn`: the tasks package's `batchedLoss` with the K batches
 * stacked on a leading axis (one batch per problem).
 */
export const perProblemBatchedLoss: BatchedLossFn = (task, stackedParams, keys, datas) =>
  tf.tidy(() => tasksBatchedLoss(task, stackedParams, keys, stackBatches(datas)));

/**
 * The default `LossesFn`: one batched call when the problems share a task that has a
 * vectorised `batchedLoss` (image MLPs, quadratics) and equally shaped parameters;
 * otherwise one problem at a time.
 */
export const autoLosses: LossesFn = <P, D>(tasks: Task<P, D>[], params: P[], keys: PRNGKey[], datas: D[]) => {
  if (tasks.length > 1 && hasBatchedLoss(tasks[0]!))
    return stackedLosses(perProblemBatchedLoss)(tasks, params, keys, datas);
  return loopedLosses(tasks, params, keys, datas);
};
