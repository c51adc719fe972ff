/**
 * @packageDocumentation
 * Real Fashion-MNIST and MNIST for TensorFlow.js: found on disk or downloaded, verified,
 * resized as TF2's `tf.image.resize` does, split as the reference does and batched with
 * PRNG-keyed shuffles.
 */
export { type Batch, type BatchIterator, type BatchIteratorState, ShuffledBatchIterator } from './batch-iterator.js';
export { defaultCacheRoot } from './cache-dir.js';
export {
  DATASET_NAMES,
  type DatasetInfo,
  type DatasetName,
  datasetInfo,
  type IdxFileInfo,
  type IdxFileRole,
} from './catalog.js';
export {
  type DatasetOptions,
  type Datasets,
  fashionMnistDatasets,
  imageDatasets,
  mnistDatasets,
  SPLIT_NAMES,
  type SplitName,
} from './datasets.js';
export { DatasetError } from './errors.js';
export { type IdxArray, parseIdx } from './idx.js';
export { clearDatasetCache, type SplitArrays } from './load-data.js';
export type { DownloadProgress, ProgressCallback } from './progress.js';
export { resizeBilinearTo01 } from './resize.js';
export { type DatasetsState, datasetsState } from './datasets-state.js';
