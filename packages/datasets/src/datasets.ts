import { type PRNGKey, random } from '@lopt/pytree';
import type { BatchIterator } from './batch-iterator.js';
import { ShuffledBatchIterator } from './batch-iterator.js';
import { defaultCacheRoot } from './cache-dir.js';
import { type DatasetName, datasetInfo } from './catalog.js';
import { DatasetError } from './errors.js';
import { loadPrepared, type SplitArrays } from './load-data.js';
import type { ProgressCallback } from './progress.js';

/** The four splits, as in the reference. */
export type SplitName = 'train' | 'innerValid' | 'outerValid' | 'test';

/** The split names in a fixed order (their index is folded into the key). */
export const SPLIT_NAMES: readonly SplitName[] = ['train', 'innerValid', 'outerValid', 'test'];

/** Options of {@link fashionMnistDatasets}, {@link mnistDatasets} and {@link imageDatasets}. */
export interface DatasetOptions {
  /** Examples per batch (default 128); at most the size of the smallest split. */
  batchSize?: number;
  /** `[height, width]` to resize to (TF2 bilinear, half-pixel centers); omitted or `null`: 28x28. */
  imageSize?: readonly [number, number] | null;
  /** Key the shuffles derive from (default `random.PRNGKey(0)`); split `i` uses `foldIn(key, i)`. */
  key?: PRNGKey;
  /**
   * Node: a folder holding the four files (`.gz` or raw IDX), searched first. When the
   * files are in none of the folders, they are downloaded into this one.
   */
  dataDir?: string;
  /**
   * Node: the cache root, holding one folder per dataset (`<root>/fashion-mnist/`,
   * `<root>/mnist/`). Default `$LOPT_DATA_DIR`, else the platform cache folder (see
   * `defaultCacheRoot`); `null` leaves the cache out.
   */
  cacheRoot?: string | null;
  /** Node: system folders searched after the cache (default: Debian's `/usr/share/datasets/fashion-mnist`). */
  systemDirs?: readonly string[];
  /**
   * Base URL(s) the files are downloaded (Node) or fetched (browser) from, as
   * `<baseUrl>/<file name>`. Default: the official mirror.
   */
  baseUrl?: string | readonly string[];
  /** Node: download missing files (default `true`). */
  download?: boolean;
  /** Called as downloads progress. */
  onProgress?: ProgressCallback;
  /**
   * Check each file's unpacked SHA-256 against the official one (default `true`). Turn off
   * only for custom data in the same IDX layout; structure is checked either way.
   */
  verify?: boolean;
}

/** A loaded dataset: four endless batch iterators plus what a model needs to know. */
export interface Datasets {
  /** The dataset's name, e.g. `'fashion_mnist'`. */
  name: string;
  /** Batches of official train[0:80%]. */
  train: BatchIterator;
  /** Batches of official train[80%:90%]. */
  innerValid: BatchIterator;
  /** Batches of official train[90%:]. */
  outerValid: BatchIterator;
  /** Batches of the official test set. */
  test: BatchIterator;
  /** Shapes (with the batch dimension) and dtypes of a batch. */
  elementSpec: { image: { shape: number[]; dtype: 'float32' }; label: { shape: number[]; dtype: 'int32' } };
  /** Number of label classes. */
  numClasses: number;
  /** `[height, width]` of the images. */
  imageSize: [number, number];
  /** Examples per batch. */
  batchSize: number;
  /** Examples in each split. */
  splitSizes: Record<SplitName, number>;
  /** The iterator of a split by name; an unknown name throws a {@link DatasetError}. */
  split(name: SplitName): BatchIterator;
  /**
   * The preprocessed examples of a split, unshuffled (shared with the cache: read, do not
   * write). For code that batches by itself, e.g. vectorized meta-training.
   */
  arrays(name: SplitName): SplitArrays;
}

/**
 * Fashion-MNIST (Zalando), as the reference's `fashion_mnist_datasets`: 60000 train and
 * 10000 test images of 10 clothing classes, resized to `imageSize`, scaled to [0, 1].
 */
export function fashionMnistDatasets(opts: DatasetOptions = {}): Promise<Datasets> {
  return imageDatasets('fashion_mnist', opts);
}

/** MNIST handwritten digits, as the reference's `mnist_datasets`; same options and splits. */
export function mnistDatasets(opts: DatasetOptions = {}): Promise<Datasets> {
  return imageDatasets('mnist', opts);
}

/**
 * Loads a dataset by name (`'fashion_mnist'` or `'mnist'`; anything else throws a
 * {@link DatasetError}). Reads, checks, decodes and resizes once per process; later calls
 * with the same source and size reuse the arrays and only create new iterators.
 */
export async function imageDatasets(name: DatasetName, opts: DatasetOptions = {}): Promise<Datasets> {
  const info = datasetInfo(name);
  const batchSize = opts.batchSize ?? 128;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new DatasetError(`batchSize must be a positive integer, got ${batchSize}`);
  }
  const [height, width] = opts.imageSize ?? [28, 28];
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new DatasetError(`imageSize must be two positive integers, got [${opts.imageSize?.join(', ')}]`);
  }
  const key = opts.key ?? random.PRNGKey(0);
  if (!random.isPRNGKey(key)) throw new DatasetError('key must be a PRNG key (random.PRNGKey(seed) or random.split)');

  const cacheRoot = opts.cacheRoot === null ? undefined : (opts.cacheRoot ?? defaultCacheRoot());
  const baseUrls =
    opts.baseUrl === undefined ? info.mirrors : typeof opts.baseUrl === 'string' ? [opts.baseUrl] : opts.baseUrl;
  const prepared = await loadPrepared(
    info,
    {
      dataDir: opts.dataDir,
      cacheDir: cacheRoot ? `${cacheRoot.replace(/[\\/]+$/, '')}/${info.dirName}` : undefined,
      systemDirs: opts.systemDirs ?? info.systemDirs,
      mirrors: opts.download === false ? [] : baseUrls,
      onProgress: opts.onProgress,
      verify: opts.verify ?? true,
    },
    height,
    width,
  );

  const numTrain = prepared.train.count;
  // Percent slices as TFDS computes them for train[0:80%], [80%:90%], [90%:].
  const cut1 = Math.round((numTrain * 80) / 100);
  const cut2 = Math.round((numTrain * 90) / 100);
  const arrays: Record<SplitName, SplitArrays> = {
    train: slice(prepared.train, 0, cut1),
    innerValid: slice(prepared.train, cut1, cut2),
    outerValid: slice(prepared.train, cut2, numTrain),
    test: prepared.test,
  };
  const iterators = {} as Record<SplitName, BatchIterator>;
  SPLIT_NAMES.forEach((s, i) => {
    iterators[s] = new ShuffledBatchIterator(arrays[s], batchSize, random.foldIn(key, i), s);
  });
  const checkSplit = (s: string): SplitName => {
    if (!(SPLIT_NAMES as readonly string[]).includes(s)) {
      throw new DatasetError(`Unknown split '${s}' of ${info.name}: splits are ${SPLIT_NAMES.join(', ')}`);
    }
    return s as SplitName;
  };
  return {
    name: info.name,
    ...iterators,
    elementSpec: {
      image: { shape: [batchSize, height, width, 1], dtype: 'float32' },
      label: { shape: [batchSize], dtype: 'int32' },
    },
    numClasses: info.numClasses,
    imageSize: [height, width],
    batchSize,
    splitSizes: {
      train: arrays.train.count,
      innerValid: arrays.innerValid.count,
      outerValid: arrays.outerValid.count,
      test: arrays.test.count,
    },
    split: (s) => iterators[checkSplit(s)],
    arrays: (s) => arrays[checkSplit(s)],
  };
}

// A view of examples [start, end) of a split; no copy.
function slice(a: SplitArrays, start: number, end: number): SplitArrays {
  const size = a.imageShape[0] * a.imageShape[1];
  return {
    images: a.images.subarray(start * size, end * size),
    labels: a.labels.subarray(start, end),
    count: end - start,
    imageShape: a.imageShape,
  };
}
