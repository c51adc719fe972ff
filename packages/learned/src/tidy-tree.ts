import * as tf from '@tensorflow/tfjs-core';

/** `tf.tidy` for functions that return a pytree of tensors (typed as the tree). */
export function tidyTree<T>(fn: () => T): T {
  return tf.tidy(() => fn() as unknown as tf.TensorContainer) as unknown as T;
}
