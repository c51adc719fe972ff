import * as tf from '@tensorflow/tfjs-core';

/**
 * The identity whose gradient is zero (`jax.lax.stop_gradient`): the value is used,
 * but no gradient flows back through it.
 */
export const stopGradient: <T extends tf.Tensor>(x: T) => T = tf.customGrad((...inputs) => ({
  value: tf.clone(inputs[0] as tf.Tensor),
  gradFunc: (dy: tf.Tensor | tf.Tensor[]) => tf.zerosLike(dy as tf.Tensor),
})) as <T extends tf.Tensor>(x: T) => T;

/**
 * `log(sum(exp(x)))` along `axis`, shifted by the maximum for stability. Differentiable
 * to any order (tfjs's own `logSumExp`/`logSoftmax` gradients are not differentiable again).
 */
export function logSumExp(x: tf.Tensor, axis = -1, keepDims = false): tf.Tensor {
  return tf.tidy(() => {
    const m = stopGradient(tf.max(x, axis, true));
    const lse = tf.add(tf.log(tf.sum(tf.exp(tf.sub(x, m)), axis, true)), m);
    return keepDims ? lse : tf.squeeze(lse, [axis < 0 ? x.rank + axis : axis]);
  });
}

/** `x - logSumExp(x)` along `axis`: log-probabilities, differentiable to any order. */
export function logSoftmax(x: tf.Tensor, axis = -1): tf.Tensor {
  return tf.tidy(() => {
    const m = stopGradient(tf.max(x, axis, true));
    const shifted = tf.sub(x, m);
    return tf.sub(shifted, tf.log(tf.sum(tf.exp(shifted), axis, true)));
  });
}
