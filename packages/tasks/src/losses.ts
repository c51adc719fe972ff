import { logSoftmax, stopGradient } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Softmax cross-entropy per example, as the reference's `softmax_cross_entropy`:
 * `-sum(labels * logSoftmax(logits), -1)`. `labels` are probabilities (one-hot or soft)
 * of the shape of `logits`. Differentiable to any order.
 */
export function softmaxCrossEntropy({ logits, labels }: { logits: tf.Tensor; labels: tf.Tensor }): tf.Tensor {
  if (logits.shape.length !== labels.shape.length || logits.shape.some((d, i) => d !== labels.shape[i])) {
    throw new Error(
      `softmaxCrossEntropy: labels of shape [${labels.shape.join(', ')}] do not match logits of shape [${logits.shape.join(', ')}]`,
    );
  }
  return tf.tidy(() => tf.neg(tf.sum(tf.mul(labels, logSoftmax(logits)), -1)));
}

/**
 * Mean softmax cross-entropy over the second-to-last axis of `logits` (`[..., B, C]`)
 * against one-hot float `onehot` (broadcastable to `logits`): the shape of the result is
 * `logits.shape` without its last two axes (a scalar for `[B, C]`). A lean form of
 * `mean(softmaxCrossEntropy(...))` for the hot path of training: the max shift cancels
 * out, so only `logits - max` enters the loss.
 */
export function meanSoftmaxCrossEntropy(logits: tf.Tensor, onehot: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const z = tf.sub(logits, stopGradient(tf.max(logits, -1, true)));
    const lse = tf.log(tf.sum(tf.exp(z), -1));
    const picked = tf.sum(tf.mul(onehot, z), -1);
    return tf.mean(tf.sub(lse, picked), -1);
  });
}

/**
 * The reference's classification normaliser: clip to `[0, maxval]`, NaN mapped to `maxval`
 * (infinities are clipped: +inf to `maxval`, -inf to 0, as `clip` then `nan_to_num` does).
 */
export function clipNormalizer(loss: tf.Tensor, maxval: number): tf.Tensor {
  return tf.tidy(() => {
    const clipped = tf.clipByValue(loss, 0, maxval);
    return tf.where(tf.isNaN(loss), tf.fill(loss.shape, maxval), clipped);
  });
}
