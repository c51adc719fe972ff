import type { PRNGKey } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { DatasetError } from './errors.js';
import type { SplitArrays } from './load-data.js';
import { ShuffledEpochs } from './shuffled-epochs.js';

/**
 * One batch: images `[B, H, W, 1]` float32 in [0, 1] and labels `[B]` int32. A type alias
 * (not an interface) so a batch is a `tf.TensorContainer`: `tf.dispose(batch)` works.
 */
export type Batch = {
  /** Images, `[batchSize, height, width, 1]`, float32 in [0, 1]. */
  image: tf.Tensor4D;
  /** Labels, `[batchSize]`, int32 class indices. */
  label: tf.Tensor1D;
};

/** The position of a `ShuffledBatchIterator`, as plain data (for checkpoints). */
export interface BatchIteratorState {
  /** The key the next epoch's shuffle is drawn from. */
  key: number[];
  /** The key the current epoch's shuffle was drawn from (null before the first batch). */
  orderKey: number[] | null;
  /** The next example's index in the current epoch's order. */
  position: number;
  /** Epochs started so far. */
  epochs: number;
}

/**
 * An endless iterator over shuffled batches of one split. `next()` is synchronous and never
 * done. Each call creates two new tensors that belong to the caller, who disposes them
 * (`tf.dispose(batch)`, or by calling `next()` inside `tf.tidy`).
 */
export interface BatchIterator extends Iterator<Batch> {
  /** The next batch; `done` is always `false`. */
  next(): IteratorResult<Batch> & { done: false; value: Batch };
  /** Where the iterator is (iterators that can be checkpointed). */
  state?(): BatchIteratorState;
  /** Continues from a `state()`. */
  restore?(state: BatchIteratorState): void;
}

/** Images of at most this many floats are copied into a batch element by element. */
const SMALL_IMAGE = 256;

/**
 * Batches of a split in a fresh order every epoch: the permutation of epoch `e` comes
 * from the `e`-th key split off the iterator's key, so the same key gives the same
 * batches on every backend. The last partial batch of each epoch is dropped.
 */
export class ShuffledBatchIterator implements BatchIterator {
  private readonly order: ShuffledEpochs;
  private readonly imageSize: number;

  /**
   * @param arrays - The split's preprocessed examples (not copied; not modified).
   * @param batchSize - Examples per batch, at most `arrays.count`.
   * @param key - The PRNG key the epochs' permutations derive from.
   * @param splitName - The split's name, for error messages.
   */
  constructor(
    private readonly arrays: SplitArrays,
    readonly batchSize: number,
    key: PRNGKey,
    readonly splitName = 'split',
  ) {
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new DatasetError(`batch size must be a positive integer, got ${batchSize}`);
    }
    if (batchSize > arrays.count) {
      throw new DatasetError(
        `batch size ${batchSize} is larger than the ${splitName} split (${arrays.count} examples)`,
      );
    }
    this.order = new ShuffledEpochs(key, arrays.count, splitName);
    this.imageSize = arrays.imageShape[0] * arrays.imageShape[1];
  }

  /** Epochs started so far (0 before the first batch). */
  get epoch(): number {
    return this.order.epoch;
  }

  /** The next batch (two new tensors owned by the caller); never done. */
  next(): IteratorResult<Batch> & { done: false; value: Batch } {
    const B = this.batchSize;
    const idx = this.order.take(B);
    const size = this.imageSize;
    const src = this.arrays.images;
    const images = new Float32Array(B * size);
    const labels = new Int32Array(B);
    const srcLabels = this.arrays.labels;
    for (let i = 0; i < B; i++) {
      const j = idx[i]!;
      // A small image (8x8) is copied element by element: a subarray view per image costs more.
      if (size <= SMALL_IMAGE) for (let s = j * size, e = s + size, o = i * size; s < e; s++, o++) images[o] = src[s]!;
      else images.set(src.subarray(j * size, (j + 1) * size), i * size);
      labels[i] = srcLabels[j]!;
    }
    const [h, w] = this.arrays.imageShape;
    const value: Batch = { image: tf.tensor4d(images, [B, h, w, 1], 'float32'), label: tf.tensor1d(labels, 'int32') };
    return { done: false, value };
  }

  /** Where the iterator is, as plain data (JSON-safe): `restore` continues from it exactly. */
  state(): BatchIteratorState {
    return this.order.state();
  }

  /** Continues from a `state()` (of an iterator over the same split and batch size). */
  restore(state: BatchIteratorState): void {
    this.order.restore(state);
  }

  /** The iterator itself, so it works with `for...of` (which never ends: break out). */
  [Symbol.iterator](): this {
    return this;
  }
}
