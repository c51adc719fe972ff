import { type PRNGKey, random } from '@lopt/pytree';
import type { BatchIteratorState } from './batch-iterator.js';
import { DatasetError } from './errors.js';

/**
 * The order of a shuffling batch iterator: `count` items in a fresh permutation every
 * epoch, the permutation of epoch `e` drawn from the `e`-th key split off `key` (so a key
 * gives the same order on every backend), the last partial batch of an epoch dropped. Its
 * position is plain data (`state`), and `restore` continues exactly from it.
 */
export class ShuffledEpochs {
  private key: PRNGKey;
  private orderKey: PRNGKey | undefined;
  private order: Int32Array | undefined;
  private position = 0;
  private epochs = 0;

  /**
   * @param key - The PRNG key the epochs' permutations derive from.
   * @param count - Items in one epoch.
   * @param splitName - The split's name, for error messages.
   * @param unit - What an item is called in error messages ("windows"); unnamed when omitted.
   */
  constructor(
    key: PRNGKey,
    private readonly count: number,
    private readonly splitName: string,
    private readonly unit?: string,
  ) {
    this.key = key;
  }

  /** Epochs started so far (0 before the first batch). */
  get epoch(): number {
    return this.epochs;
  }

  /** The indices of the next `batchSize` items, starting a new epoch when this one has too few left. */
  take(batchSize: number): Int32Array {
    if (!this.order || this.position + batchSize > this.order.length) {
      // The permutation is drawn lazily: loading a dataset costs no shuffles.
      const [next, sub] = random.split(this.key);
      this.key = next!;
      this.orderKey = sub!;
      this.order = random.permutationIndices(sub!, this.count);
      this.position = 0;
      this.epochs++;
    }
    const out = this.order.subarray(this.position, this.position + batchSize);
    this.position += batchSize;
    return out;
  }

  /** Where the order is, as plain data (JSON-safe). */
  state(): BatchIteratorState {
    return {
      key: Array.from(this.key),
      orderKey: this.orderKey ? Array.from(this.orderKey) : null,
      position: this.position,
      epochs: this.epochs,
    };
  }

  /** Continues from a `state()` of an order over as many items. */
  restore(state: BatchIteratorState): void {
    const key = (k: number[]) => {
      if (!Array.isArray(k) || k.length !== 2)
        throw new DatasetError(`${this.splitName}: invalid iterator state (key ${String(k)})`);
      return Uint32Array.from(k) as PRNGKey;
    };
    if (!Number.isInteger(state.position) || state.position < 0 || state.position > this.count) {
      const of = this.unit ? ` of ${this.count} ${this.unit}` : '';
      throw new DatasetError(`${this.splitName}: invalid iterator state (position ${state.position}${of})`);
    }
    this.key = key(state.key);
    this.orderKey = state.orderKey ? key(state.orderKey) : undefined;
    this.order = this.orderKey ? random.permutationIndices(this.orderKey, this.count) : undefined;
    this.position = state.position;
    this.epochs = state.epochs;
  }
}
