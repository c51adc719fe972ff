import * as tf from '@tensorflow/tfjs-core';

/** The timescales of the reference's step embeddings. */
const TIMESCALES = [1, 3, 10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000];

/** `tanh(t / s - 1)` for the eleven timescales `s` (1 ... 1e5): a `[11]` step feature. */
export function tanhEmbedding(iteration: tf.Scalar): tf.Tensor1D {
  const t = tf.cast(iteration, 'float32');
  return tf.tanh(tf.sub(tf.div(t, tf.tensor1d(TIMESCALES)), 1)) as tf.Tensor1D;
}

/** `sin(t / (s * pi))` for the eleven timescales `s`: a `[11]` step feature. */
export function sinEmbedding(iteration: tf.Scalar): tf.Tensor1D {
  const t = tf.cast(iteration, 'float32');
  return tf.sin(tf.div(t, tf.tensor1d(TIMESCALES.map((s) => s * Math.PI)))) as tf.Tensor1D;
}

/**
 * `sqrt(x)` whose derivative stays finite at 0: inputs below 1e-30 are raised to it (the
 * value moves by at most 1e-15; the derivative there is 0 instead of infinite). Exact
 * zeros are common (dead ReLU units give all-zero gradient rows).
 */
export function safeSqrt(x: tf.Tensor): tf.Tensor {
  return tf.sqrt(tf.maximum(x, 1e-30));
}

/** `rsqrt(max(x, 1e-9))`, the reference's `safe_rsqrt`. */
export function safeRsqrt(x: tf.Tensor): tf.Tensor {
  return tf.rsqrt(tf.maximum(x, 1e-9));
}

/** `clip(log(1e-8 + |x|), -5, 5)`: a log-magnitude feature. */
export function clipLogAbs(x: tf.Tensor): tf.Tensor {
  return tf.clipByValue(tf.log(tf.add(tf.abs(x), 1e-8)), -5, 5);
}

/** `min(max(x, lo), hi)` with tensor bounds (tfjs's `clipByValue` takes numbers only). */
export function clipTensor(x: tf.Tensor, lo: tf.Tensor, hi: tf.Tensor): tf.Tensor {
  return tf.minimum(tf.maximum(x, lo), hi);
}
