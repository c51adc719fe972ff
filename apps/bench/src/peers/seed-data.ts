import type { Batch } from '@lopt/datasets';
import * as tf from '@tensorflow/tfjs-core';

/** A seed batch for the plain-tfjs peer: images [B, 8, 8, 1] and one-hot labels [B, 10]. */
export interface SeedBatch {
  image: tf.Tensor;
  labels: tf.Tensor;
}

/** The same batch as lopt uses, with labels one-hot encoded for the peer's loss. */
export function toSeedBatch(batch: Batch): SeedBatch {
  return { image: batch.image, labels: tf.cast(tf.oneHot(batch.label, 10), 'float32') };
}
