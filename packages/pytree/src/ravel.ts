import * as tf from '@tensorflow/tfjs-core';
import { type PyTree, type TreeDef, treeFlatten, treeUnflatten } from './tree.js';

/** A tree raveled into one flat vector, with the function that maps a vector back. */
export interface Raveled<T> {
  /** All leaves, flattened in tree order and concatenated (float32). */
  flat: tf.Tensor1D;
  /** Splits a vector of the same length back into a tree shaped like the original. */
  unravel: (flat: tf.Tensor1D) => T;
  /** The structure of the original tree. */
  treeDef: TreeDef;
  /** The shape of each leaf, in flattening order. */
  shapes: number[][];
  /** The number of elements of each leaf, in flattening order. */
  sizes: number[];
}

/**
 * Ravels a pytree of tensors into one 1-D vector (JAX's `ravel_pytree`), so that an
 * update can run as a few large ops instead of one op per leaf. Both directions are
 * differentiable.
 */
export function ravelPytree<T>(tree: T): Raveled<T> {
  const [leaves, treeDef] = treeFlatten(tree as PyTree);
  for (const l of leaves) {
    if (!(l instanceof tf.Tensor)) throw new Error('ravelPytree: every leaf must be a tensor');
  }
  const shapes = leaves.map((l) => l.shape.slice());
  const sizes = leaves.map((l) => l.size);
  const total = sizes.reduce((a, b) => a + b, 0);
  const flat = tf.tidy(() =>
    leaves.length === 0
      ? tf.zeros([0])
      : tf.concat(
          leaves.map((l) => tf.reshape(tf.cast(l, 'float32'), [-1])),
          0,
        ),
  ) as tf.Tensor1D;
  const unravel = (v: tf.Tensor1D): T => {
    if (v.rank !== 1 || v.size !== total) {
      throw new Error(`unravel: expected a vector of length ${total}, got shape [${v.shape.join(', ')}]`);
    }
    if (leaves.length === 0) return treeUnflatten(treeDef, []);
    const parts = leaves.length === 1 ? [v] : tf.split(v, sizes, 0);
    return treeUnflatten(
      treeDef,
      parts.map((p, i) => {
        const r = tf.reshape(p, shapes[i]!);
        if (leaves.length === 1) return r;
        p.dispose();
        return r;
      }),
    );
  };
  return { flat, unravel, treeDef, shapes, sizes };
}
