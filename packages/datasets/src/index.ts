/**
 * @packageDocumentation
 * Real Fashion-MNIST and MNIST for TensorFlow.js: found on disk or downloaded, verified,
 * resized as TF2's `tf.image.resize` does, split as the reference does and batched with
 * PRNG-keyed shuffles; and a real English text corpus (the Jargon File) as byte-level
 * `[batch, sequence]` windows for language models.
 */
export { type Batch, type BatchIterator, type BatchIteratorState, ShuffledBatchIterator } from './batch-iterator.js';
export { BYTE_VOCAB_SIZE, decodeBytes, encodeBytes } from './byte-vocabulary.js';
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
export { type DatasetsState, datasetsState, type SplitIterators } from './datasets-state.js';
export { DatasetError } from './errors.js';
export { type IdxArray, parseIdx } from './idx.js';
export { clearDatasetCache, type SplitArrays } from './load-data.js';
export type { DownloadProgress, ProgressCallback } from './progress.js';
export { resizeBilinearTo01 } from './resize.js';
export { ShuffledWindowIterator, type TextBatch, type TextBatchIterator } from './text-batch-iterator.js';
export { TEXT_CORPUS_NAMES, type TextCorpusInfo, type TextCorpusName, textCorpusInfo } from './text-corpus.js';
export { jargonFileDatasets, type TextDatasetOptions, type TextDatasets, textDatasets } from './text-datasets.js';
export { clearTextCache } from './text-source.js';
