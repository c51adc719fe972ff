import * as tf from '@tensorflow/tfjs-core';

/** `tf.tidy` for any pytree result (optimizer states hold non-tensor fields tfjs's types reject). */
export function tidy<T>(f: () => T): T {
  return tf.tidy(f as () => tf.TensorContainer) as T;
}
