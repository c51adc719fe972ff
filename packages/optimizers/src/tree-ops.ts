import { treeMap } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';

/** `treeMap` typed for update trees: the result has the type of the first tree. */
export function mapLike<U>(fn: (x: tf.Tensor, ...rest: tf.Tensor[]) => tf.Tensor, tree: U, ...rest: unknown[]): U {
  return treeMap(fn, tree, ...rest) as U;
}

/** A copy of a tree whose tensor leaves are cloned (other leaves are kept as they are). */
export function cloneTree<T>(tree: T): T {
  return treeMap((x) => (x instanceof tf.Tensor ? tf.clone(x) : x), tree) as T;
}
