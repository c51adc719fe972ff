import type { PRNGKey } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { BatchIteratorState } from './batch-iterator.js';
import { DatasetError } from './errors.js';
import { ShuffledEpochs } from './shuffled-epochs.js';

/**
 * One batch of a language-modelling split, as the reference's language datasets give it:
 * `obs` `[B, T]` token ids and `target` `[B, T]` the ids one position later (the next
 * token to predict), both int32. A type alias so a batch is a `tf.TensorContainer`.
 */
export type TextBatch = {
  /** Input tokens `[batchSize, sequenceLength]`, int32. */
  obs: tf.Tensor2D;
  /** The next token at every position, `[batchSize, sequenceLength]`, int32. */
  target: tf.Tensor2D;
};

/** An endless, checkpointable iterator over text batches; `next()` is synchronous. */
export interface TextBatchIterator extends Iterator<TextBatch> {
  /** The next batch; `done` is always `false`. */
  next(): IteratorResult<TextBatch> & { done: false; value: TextBatch };
  /** Where the iterator is, as plain data. */
  state(): BatchIteratorState;
  /** Continues from a `state()`. */
  restore(state: BatchIteratorState): void;
}

/**
 * Batches of `[batch, sequence]` windows of a token stream in a fresh order every epoch.
 * The stream is cut into non-overlapping windows of `sequenceLength + 1` tokens that share
 * their end points (window `w` starts at `w * sequenceLength`): `obs` is a window's first
 * `sequenceLength` tokens and `target` its last. Epoch `e` orders the windows by the
 * permutation of the `e`-th key split off the iterator's key, so a key gives the same
 * batches on every backend; the last partial batch of an epoch is dropped. The position
 * (`state()`) is plain data, and `restore` continues exactly where it was.
 */
export class ShuffledWindowIterator implements TextBatchIterator {
  private readonly order: ShuffledEpochs;
  /** Number of windows in one epoch. */
  readonly numWindows: number;

  /**
   * @param tokens - The split's token ids (not copied; not modified).
   * @param batchSize - Windows per batch.
   * @param sequenceLength - Tokens per window.
   * @param key - The PRNG key the epochs' permutations derive from.
   * @param splitName - The split's name, for error messages.
   */
  constructor(
    private readonly tokens: Uint8Array,
    readonly batchSize: number,
    readonly sequenceLength: number,
    key: PRNGKey,
    readonly splitName = 'split',
  ) {
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new DatasetError(`batch size must be a positive integer, got ${batchSize}`);
    if (!Number.isInteger(sequenceLength) || sequenceLength < 1) {
      throw new DatasetError(`sequence length must be a positive integer, got ${sequenceLength}`);
    }
    this.numWindows = Math.max(0, Math.floor((tokens.length - 1) / sequenceLength));
    if (batchSize > this.numWindows) {
      throw new DatasetError(
        `batch size ${batchSize} of sequence length ${sequenceLength} needs ${batchSize * sequenceLength + 1} tokens, but the ${splitName} split has ${tokens.length} (${this.numWindows} windows): use a smaller batch or shorter sequences`,
      );
    }
    this.order = new ShuffledEpochs(key, this.numWindows, splitName, 'windows');
  }

  /** Epochs started so far (0 before the first batch). */
  get epoch(): number {
    return this.order.epoch;
  }

  /** The next batch (two new tensors owned by the caller); never done. */
  next(): IteratorResult<TextBatch> & { done: false; value: TextBatch } {
    const B = this.batchSize;
    const T = this.sequenceLength;
    const idx = this.order.take(B);
    const obs = new Int32Array(B * T);
    const target = new Int32Array(B * T);
    for (let i = 0; i < B; i++) {
      const start = idx[i]! * T;
      obs.set(this.tokens.subarray(start, start + T), i * T);
      target.set(this.tokens.subarray(start + 1, start + T + 1), i * T);
    }
    return {
      done: false,
      value: { obs: tf.tensor2d(obs, [B, T], 'int32'), target: tf.tensor2d(target, [B, T], 'int32') },
    };
  }

  /** Where the iterator is, as plain data (JSON-safe): `restore` continues from it exactly. */
  state(): BatchIteratorState {
    return this.order.state();
  }

  /** Continues from a `state()` (of an iterator over the same split, batch size and sequence length). */
  restore(state: BatchIteratorState): void {
    this.order.restore(state);
  }

  /** The iterator itself, so it works with `for...of` (which never ends: break out). */
  [Symbol.iterator](): this {
    return this;
  }
}
