import { type PRNGKey, random } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';

/**
 * A stream of keys, as Haiku's `PRNGSequence`: each `next()` splits the current key in
 * two, keeps the first half as the new state and returns the second. Initialisers draw
 * their keys from one sequence in module order, so a key gives the same parameters.
 */
export class KeySequence {
  private key: PRNGKey;

  /** A sequence starting from `key`. */
  constructor(key: PRNGKey) {
    this.key = key;
  }

  /** The next key of the sequence. */
  next(): PRNGKey {
    const [k, sub] = random.split(this.key);
    this.key = k!;
    return sub!;
  }
}

/**
 * Haiku's default weight initialiser (`hk.initializers.TruncatedNormal`): a standard
 * normal truncated to [-2, 2], times `stddev`.
 */
export function truncatedNormalInit(key: PRNGKey, shape: readonly number[], stddev: number): tf.Tensor {
  // Drawn and scaled in one pass in JavaScript: the values of `truncatedNormal * stddev` in
  // float32, without a tensor op (a task's init runs on every meta-iteration, often on a tape).
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new Error(`truncatedNormalInit: invalid shape [${shape.join(', ')}]`);
  }
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(random.truncatedNormalArray(key, -2, 2, n, stddev), shape.slice(), 'float32');
}

/**
 * A Haiku `Linear` / `Conv2D` weight of `shape`: truncated normal with standard deviation
 * `1 / sqrt(fan_in)`, where `fan_in` is the product of all but the last dimension.
 */
export function fanInWeight(key: PRNGKey, shape: readonly number[]): tf.Tensor {
  const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return truncatedNormalInit(key, shape, 1 / Math.sqrt(fanIn));
}
