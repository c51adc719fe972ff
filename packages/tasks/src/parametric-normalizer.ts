import * as tf from '@tensorflow/tfjs-core';

/**
 * The normaliser of the reference's parametric image classifiers: non-finite losses become
 * `ln 2C`, then `(clip(loss, 0, ln 2C) - ln(C/5)) * 10 / ln C` for `C` classes, so a
 * chance-level loss (`ln C`) maps to about 7 on every dataset.
 */
export function parametricClassifierNormalizer(numClasses: number): (loss: tf.Tensor) => tf.Tensor {
  if (!Number.isInteger(numClasses) || numClasses < 2) {
    throw new Error(`parametricClassifierNormalizer: numClasses must be an integer >= 2, got ${numClasses}`);
  }
  const maxClass = Math.log(2 * numClasses);
  return (loss) =>
    tf.tidy(() => {
      const bad = tf.logicalOr(tf.isNaN(loss), tf.isInf(loss));
      const clean = tf.clipByValue(tf.where(bad, tf.fill(loss.shape, maxClass), loss), 0, maxClass);
      return tf.mul(tf.sub(clean, Math.log(numClasses / 5)), 10 / Math.log(numClasses));
    });
}
