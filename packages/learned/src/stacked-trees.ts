import type { OptState } from '@lopt/optimizers';
import { type PyTree, treeFlatten, treeUnflatten } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { StackedOptState } from './vectorized-optimizer.js';

/**
 * Stacks trees of one structure leaf by leaf on a new leading axis, or returns
 * `undefined` when a leaf is not a tensor or the trees' leaves differ in dtype or shape
 * (such states cannot be updated together and are updated one at a time).
 */
export function stackTrees<T>(trees: readonly T[]): T | undefined {
  if (trees.length === 0) return undefined;
  const flat = trees.map((t) => treeFlatten(t as PyTree<unknown>));
  const def = flat[0]![1];
  if (!flat.every(([leaves]) => leaves.every((l) => l instanceof tf.Tensor))) return undefined;
  const n = flat[0]![0].length;
  if (!flat.every(([leaves]) => leaves.length === n)) return undefined;
  const sig = (l: unknown) => `${(l as tf.Tensor).dtype}[${(l as tf.Tensor).shape.join(',')}]`;
  const first = flat[0]![0].map(sig);
  if (!flat.every(([leaves]) => leaves.every((l, j) => sig(l) === first[j]))) return undefined;
  return treeUnflatten(
    def,
    flat[0]![0].map((_, j) => tf.stack(flat.map(([leaves]) => leaves[j] as tf.Tensor))),
  ) as T;
}

/**
 * Splits a tree stacked on a leading axis of `n` back into `n` trees; `who` names the
 * caller in the error raised when a leaf is not stacked on such an axis.
 */
export function unstackTree<T>(tree: unknown, n: number, who = 'unstackTree'): T[] {
  const [leaves, def] = treeFlatten(tree as PyTree<unknown>);
  const parts = leaves.map((l, i) => {
    if (!(l instanceof tf.Tensor) || l.shape[0] !== n) {
      const got = l instanceof tf.Tensor ? `shape [${l.shape.join(', ')}]` : typeof l;
      throw new Error(`${who}: leaf ${i} must be a tensor stacked on a leading axis of ${n} problems, got ${got}`);
    }
    // An empty leaf (a factored accumulator of a model with no matrices) is made afresh:
    // the cpu backend keeps empty stacks as plain arrays, which its slice cannot split.
    if (l.size === 0) return Array.from({ length: n }, () => tf.zeros(l.shape.slice(1), l.dtype));
    return tf.unstack(l);
  });
  return Array.from(
    { length: n },
    (_, k) =>
      treeUnflatten(
        def,
        parts.map((p) => p[k]!),
      ) as T,
  );
}

/**
 * K stacked step counts as what they are, a `[K]` vector (tfjs does not track ranks
 * through `tf.stack`); throws when `x` is not one.
 */
export function stackedCounts(x: tf.Tensor): tf.Tensor1D {
  if (x.rank !== 1) throw new Error(`stacked step counts must be a [K] vector, got shape [${x.shape.join(', ')}]`);
  return x as tf.Tensor1D;
}

/**
 * K optimizer states stacked into the state of a `VectorizedOptimizer` (every leaf on a
 * leading axis of K, the counts a `[K]` vector), or `undefined` when they cannot be
 * stacked (see `stackTrees`).
 */
export function stackOptStates<P>(states: readonly OptState<P>[]): StackedOptState<P> | undefined {
  const stacked = stackTrees(states);
  if (!stacked) return undefined;
  const { iteration, ...rest } = stacked;
  return { ...rest, iteration: stackedCounts(iteration) };
}
