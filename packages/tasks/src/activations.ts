import * as tf from '@tensorflow/tfjs-core';

/** An elementwise activation function. */
export type Activation = (x: tf.Tensor) => tf.Tensor;

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/**
 * Activations by name, as `jax.nn` defines them, built from kernels whose gradients are
 * differentiable again. `gelu` is the tanh approximation (jax's default);
 * `leaky_relu_neg05` is `leaky_relu` with negative slope -0.5, as the reference samples it.
 */
export const ACTIVATIONS = {
  relu: (x: tf.Tensor) => tf.relu(x),
  relu6: (x: tf.Tensor) => tf.relu6(x),
  selu: (x: tf.Tensor) => tf.selu(x),
  tanh: (x: tf.Tensor) => tf.tanh(x),
  cos: (x: tf.Tensor) => tf.cos(x),
  sin: (x: tf.Tensor) => tf.sin(x),
  sigmoid: (x: tf.Tensor) => tf.sigmoid(x),
  silu: (x: tf.Tensor) => tf.tidy(() => tf.mul(x, tf.sigmoid(x))),
  swish: (x: tf.Tensor) => tf.tidy(() => tf.mul(x, tf.sigmoid(x))),
  gelu: (x: tf.Tensor) =>
    tf.tidy(() => {
      const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), SQRT_2_OVER_PI);
      return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
    }),
  leaky_relu_neg05: (x: tf.Tensor) => tf.leakyRelu(x, -0.5),
  identity: (x: tf.Tensor) => x,
} as const satisfies Record<string, Activation>;

/** The name of a built-in activation. */
export type ActivationName = keyof typeof ACTIVATIONS;

/** The activation called `name`; an unknown name throws, listing the known ones. */
export function getActivation(name: string): Activation {
  const f = (ACTIVATIONS as Record<string, Activation>)[name];
  if (!f) throw new Error(`Unknown activation '${name}': known activations are ${Object.keys(ACTIVATIONS).join(', ')}`);
  return f;
}
