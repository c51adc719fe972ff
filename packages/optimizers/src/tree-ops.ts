import type * as tf from '@tensorflow/tfjs-core';
import { treeMap } from '@lopt/pytree';

/** `treeMap` typed for update trees: the result has the type of the first tree. */
export function mapLike<U>(fn: (x: tf.Tensor, ...rest: tf.Tensor[]) => tf.Tensor, tree: U, ...rest: unknown[]): U {
  return treeMap(fn, tree, ...rest) as U;
}
