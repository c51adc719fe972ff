import type { Datasets, TextBatch, TextDatasets } from '@lopt/datasets';
import * as tf from '@tensorflow/tfjs-core';
import { meanSoftmaxCrossEntropy } from './losses.js';

/**
 * The mean next-token cross-entropy (nats per token) of `logits` `[..., N, V]` against the
 * int32 `targets` `[N]`: a scalar, or `[K]` for K stacked members. Differentiable to any
 * order (the softmax is built from ops whose gradients are registered twice-differentiable).
 */
export function nextTokenLoss(logits: tf.Tensor, targets: tf.Tensor, vocabSize: number): tf.Tensor {
  return tf.tidy(() =>
    meanSoftmaxCrossEntropy(logits, tf.cast(tf.oneHot(tf.reshape(targets, [-1]), vocabSize), 'float32')),
  );
}

/**
 * The reference's language-model normaliser: NaN and infinities to `log(2V)`, clipped to
 * `[0, log(2V)]`, then `(l - log(V/5)) * 10 / log(V)`, so losses of different vocabularies
 * share one scale.
 */
export function lmNormalizer(loss: tf.Tensor, vocabSize: number): tf.Tensor {
  return tf.tidy(() => {
    const maxClass = Math.log(2 * vocabSize);
    const clean = tf.where(tf.isFinite(loss), loss, tf.fill(loss.shape, maxClass));
    return tf.mul(tf.sub(tf.clipByValue(clean, 0, maxClass), Math.log(vocabSize / 5)), 10 / Math.log(vocabSize));
  });
}

/**
 * A corpus as a task's `datasets`: `Task.datasets` is typed for images, but every consumer
 * (training loops, outer trainers, `datasetsState`) only draws batches from its split
 * iterators, which a `TextDatasets` has. Batches are `TextBatch`es.
 */
export function asTaskDatasets(text: TextDatasets): Datasets {
  return text as unknown as Datasets;
}

/** Checks a batch's shape and dtype for a language-model task; returns `[batch, sequence]`. */
export function checkTextBatch(task: string, data: TextBatch, maxPositions: number | null): [number, number] {
  if (!data || !(data.obs instanceof tf.Tensor) || !(data.target instanceof tf.Tensor)) {
    throw new Error(`${task}: the data must be a text batch { obs, target } of [batch, sequence] int32 token ids`);
  }
  const { obs, target } = data;
  if (obs.rank !== 2 || target.rank !== 2 || obs.shape[0] !== target.shape[0] || obs.shape[1] !== target.shape[1]) {
    throw new Error(
      `${task}: obs [${obs.shape.join(', ')}] and target [${target.shape.join(', ')}] must both be [batch, sequence]`,
    );
  }
  if (obs.dtype !== 'int32' || target.dtype !== 'int32')
    throw new Error(`${task}: obs and target must be int32 token ids`);
  const T = obs.shape[1]!;
  if (maxPositions !== null && T > maxPositions) {
    throw new Error(
      `${task}: sequences of ${T} tokens are longer than the model's ${maxPositions} learned positions; use sequences of at most ${maxPositions} tokens or a task with more positions`,
    );
  }
  return [obs.shape[0]!, T];
}

/** Checks that a corpus's vocabulary is the one a task was built for. */
export function checkVocabulary(task: string, text: TextDatasets, vocabSize: number): void {
  if (text.vocabSize !== vocabSize) {
    throw new Error(
      `${task}: the corpus '${text.name}' has a vocabulary of ${text.vocabSize} tokens but the task's embedding and output layer have ${vocabSize}; build the task with vocabSize ${text.vocabSize} or use a corpus of ${vocabSize} tokens`,
    );
  }
}

/**
 * The corpus as a language-model task's datasets (`asTaskDatasets`), after checking that
 * its batches are at least as large as the task's `crop` of them.
 */
export function croppedDatasets(
  task: string,
  text: TextDatasets,
  crop: { batchSize: number; sequenceLength: number } | undefined,
): Datasets {
  if (crop && (crop.batchSize > text.batchSize || crop.sequenceLength > text.sequenceLength)) {
    throw new Error(
      `${task}: needs batches of at least [${crop.batchSize}, ${crop.sequenceLength}], the corpus gives [${text.batchSize}, ${text.sequenceLength}]`,
    );
  }
  return asTaskDatasets(text);
}
