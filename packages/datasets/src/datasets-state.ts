import type { BatchIteratorState } from './batch-iterator.js';
import { SPLIT_NAMES, type SplitName } from './datasets.js';
import { DatasetError } from './errors.js';

/** The positions of all four split iterators of a `Datasets`, as plain data. */
export type DatasetsState = Record<SplitName, BatchIteratorState>;

/**
 * What {@link datasetsState} needs of a dataset: its name and its split iterators (image
 * `Datasets` and `TextDatasets` both fit).
 */
export interface SplitIterators {
  /** The dataset's name, for error messages. */
  name: string;
  /** The iterator of a split by name. */
  split(name: SplitName): { state?(): BatchIteratorState; restore?(state: BatchIteratorState): void };
}

/**
 * A `{ get, set }` pair over the positions of every split iterator of `datasets`, for
 * checkpoints: saved with a meta-training checkpoint (outer-trainers' `metaTrain`
 * `dataState` option) and restored on resume, a run on real data continues with exactly
 * the batches an uninterrupted run would have drawn.
 */
export function datasetsState(datasets: SplitIterators): { get(): DatasetsState; set(state: DatasetsState): void } {
  const iterator = (name: SplitName) => {
    const it = datasets.split(name);
    if (!it.state || !it.restore) {
      throw new DatasetError(
        `${datasets.name}: the ${name} iterator cannot report its position (no state()/restore())`,
      );
    }
    return it as Required<typeof it>;
  };
  return {
    get: () => Object.fromEntries(SPLIT_NAMES.map((n) => [n, iterator(n).state()])) as DatasetsState,
    set: (state) => {
      for (const n of SPLIT_NAMES) {
        if (!state?.[n])
          throw new DatasetError(`${datasets.name}: the saved data state has no position for the ${n} split`);
        iterator(n).restore(state[n]);
      }
    },
  };
}
