import { type PRNGKey, treeFlatten, treeUnflatten } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { Task } from './task.js';

/**
 * A task that evaluates K parameter sets in one call. Its parameters are stacked on a
 * new leading axis of size K (see `stackParams`) and the result holds the K losses.
 * Members are independent, so the gradient of `sum(batchedLoss(...))` with respect to
 * the stacked parameters is the K per-member gradients, stacked.
 */
export interface BatchedTask<P = unknown, D = unknown, S = unknown> extends Task<P, D, S> {
  /**
   * The K losses (shape `[K]`) of `stackedParams` (every leaf with a leading axis K).
   * `keys` holds one key per member. `data` is either one batch shared by all members or,
   * where the task says so, a batch with a leading axis K (one batch per member).
   */
  batchedLoss(stackedParams: P, keys: readonly PRNGKey[], data: D): tf.Tensor1D;
}

/** True when `task` has its own vectorised `batchedLoss`. */
export function hasBatchedLoss<P, D, S>(task: Task<P, D, S>): task is BatchedTask<P, D, S> {
  return typeof (task as Partial<BatchedTask<P, D, S>>).batchedLoss === 'function';
}

/**
 * Stacks K parameter pytrees of one structure on a new leading axis (as
 * `jax.tree_util.tree_map(lambda *x: jnp.stack(x), *trees)`). The error names the path
 * where the trees differ.
 */
export function stackParams<P>(trees: readonly P[]): P {
  if (trees.length === 0) throw new Error('stackParams: need at least one parameter tree');
  const [leaves0, def] = treeFlatten(trees[0] as never);
  const all = trees.map((t, i) => {
    const [leaves] = treeFlatten(t as never);
    if (leaves.length !== leaves0.length) {
      throw new Error(`stackParams: tree ${i} has ${leaves.length} leaves, tree 0 has ${leaves0.length}`);
    }
    return leaves as tf.Tensor[];
  });
  const stacked = (leaves0 as tf.Tensor[]).map((_, j) => tf.stack(all.map((l) => l[j]!)));
  return treeUnflatten(def, stacked) as P;
}

/** Splits parameters stacked on a leading axis back into their K pytrees. */
export function unstackParams<P>(stacked: P): P[] {
  const [leaves, def] = treeFlatten(stacked as never) as [tf.Tensor[], ReturnType<typeof treeFlatten>[1]];
  if (leaves.length === 0) return [];
  const k = leaves[0]!.shape[0]!;
  const parts = leaves.map((l) => {
    if (l.shape[0] !== k)
      throw new Error(`unstackParams: leaves disagree on the stacking axis (${l.shape[0]} vs ${k})`);
    return tf.unstack(l);
  });
  return Array.from(
    { length: k },
    (_, i) =>
      treeUnflatten(
        def,
        parts.map((p) => p[i]!),
      ) as P,
  );
}

/** Options of {@link batchedLoss}. */
export interface BatchedLossOptions {
  /**
   * `data` holds one batch per member, stacked on a leading axis K (every tensor leaf
   * `[K, ...]`). Vectorised tasks recognise stacked batches by their shape; the loop
   * fallback needs this flag to hand member i its own batch.
   */
  perMemberData?: boolean;
}

/**
 * The losses of K parameter sets of one task in one call: `stackedParams` has every leaf
 * stacked on a leading axis of size K (`stackParams`), `keys` one key per member, and
 * `data` one batch shared by the members, or one batch per member stacked on a leading
 * axis (`perMemberData`). Returns a `[K]` tensor. Tasks with a vectorised `batchedLoss`
 * (image MLPs, quadratics) use batched matmuls; others fall back to a loop over `task.loss`.
 */
export function batchedLoss<P, D, S>(
  task: Task<P, D, S>,
  stackedParams: P,
  keys: readonly PRNGKey[],
  data: D,
  opts: BatchedLossOptions = {},
): tf.Tensor1D {
  if (hasBatchedLoss(task)) return task.batchedLoss(stackedParams, keys, data);
  return tf.tidy(() => {
    const members = unstackParams(stackedParams);
    if (members.length !== keys.length) {
      throw new Error(`batchedLoss: ${members.length} parameter sets but ${keys.length} keys`);
    }
    const datas = opts.perMemberData ? unstackParams(data) : undefined;
    if (datas && datas.length !== members.length) {
      throw new Error(`batchedLoss: ${members.length} parameter sets but ${datas.length} batches`);
    }
    return tf.stack(members.map((p, i) => task.loss(p, keys[i]!, datas ? datas[i]! : data))) as tf.Tensor1D;
  });
}
