import type { Datasets, SplitName } from '@lopt/datasets';
import { type PRNGKey, random } from '@lopt/pytree';
import type * as tf from '@tensorflow/tfjs-core';

const SPLITS: readonly SplitName[] = ['train', 'innerValid', 'outerValid', 'test'];

/**
 * Endless streams of generated tensors in the shape of `Datasets` (used by the quadratic
 * tasks, whose "data" is noise): split `i` draws from `foldIn(key, i)`, each `next()`
 * from a fresh split of its key, so a key fixes every stream. The batches are the tensors
 * `draw` makes, not image batches: `elementSpec`, `numClasses` and `imageSize` are empty
 * placeholders and `arrays()` throws.
 */
export function generatedDatasets(key: PRNGKey, draw: (key: PRNGKey) => tf.Tensor, name: string): Datasets {
  const iterators = {} as Record<SplitName, Iterator<tf.Tensor>>;
  SPLITS.forEach((s, i) => {
    let k = random.foldIn(key, i);
    const it = {
      next() {
        const [next, sub] = random.split(k);
        k = next!;
        return { done: false as const, value: draw(sub!) };
      },
      [Symbol.iterator]() {
        return it;
      },
    };
    iterators[s] = it;
  });
  const check = (s: string): SplitName => {
    if (!(SPLITS as readonly string[]).includes(s))
      throw new Error(`${name}: unknown split '${s}' (splits: ${SPLITS.join(', ')})`);
    return s as SplitName;
  };
  const ds = {
    name,
    ...iterators,
    elementSpec: { image: { shape: [], dtype: 'float32' }, label: { shape: [], dtype: 'int32' } },
    numClasses: 0,
    imageSize: [0, 0],
    batchSize: 1,
    splitSizes: { train: Infinity, innerValid: Infinity, outerValid: Infinity, test: Infinity },
    split: (s: string) => iterators[check(s)],
    arrays: () => {
      throw new Error(`${name}: generated data has no stored arrays`);
    },
  };
  // The shape matches Datasets; only the batch type differs (plain tensors, not images).
  return ds as unknown as Datasets;
}
