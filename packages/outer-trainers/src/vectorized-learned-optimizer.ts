import type { LearnedOptimizer } from '@lopt/learned';
import type { Optimizer } from '@lopt/optimizers';
import { type PyTree, treeFlatten, treeUnflatten } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';

/**
 * An optional extension of a learned optimizer: one optimizer for K problems at once,
 * problem k driven by `thetas[k]`. Its states and gradients have every tensor leaf
 * stacked on a leading axis of size K (parameters `[K, ...]`, `iteration` `[K]`), and the
 * `loss` it is given is `[K]`. TensorFlow.js has no `vmap`, so this is how K updates
 * become one batched computation instead of K; `VectorizedLOptTruncatedStep` uses it
 * when the learned optimizer has it.
 */
export interface VectorizedLearnedOptimizer<Theta = unknown> extends LearnedOptimizer<Theta> {
  /** The optimizer of K stacked problems, problem k using `thetas[k]`. */
  vectorizedOptFn(thetas: Theta[], isTraining?: boolean): Optimizer;
}

/** True when `lopt` implements `vectorizedOptFn`. */
export function isVectorizedLearnedOptimizer<Theta>(
  lopt: LearnedOptimizer<Theta>,
): lopt is VectorizedLearnedOptimizer<Theta> {
  return typeof (lopt as Partial<VectorizedLearnedOptimizer<Theta>>).vectorizedOptFn === 'function';
}

/**
 * Stacks trees of one structure leaf by leaf on a new leading axis, or returns
 * `undefined` when a leaf is not a tensor or the trees' leaves differ in dtype or shape
 * (such states are updated one at a time).
 */
export function stackTrees<T>(trees: T[]): T | undefined {
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

/** Splits a tree stacked on a leading axis back into `n` trees. */
export function unstackTree<T>(tree: T, n: number): T[] {
  const [leaves, def] = treeFlatten(tree as PyTree<unknown>);
  const parts = leaves.map((l) => {
    if (!(l instanceof tf.Tensor) || l.shape[0] !== n) {
      throw new Error(`vectorizedOptFn: every leaf of the updated state must be a tensor stacked on an axis of ${n}`);
    }
    return tf.unstack(l);
  });
  return Array.from({ length: n }, (_, k) => treeUnflatten(def, parts.map((p) => p[k]!)) as T);
}
