import { type DatasetInfo, IDX_FILE_ROLES, type IdxFileRole } from './catalog.js';
import { DatasetError } from './errors.js';
import { loadFileFetch } from './fetch-source.js';
import type { IdxArray } from './idx.js';
import type { ProgressCallback } from './progress.js';
import { resizeBilinearTo01 } from './resize.js';

/** Where and how to get a dataset's files (already resolved from the user's options). */
export interface SourceOptions {
  /** Node: searched first, downloads go here when given. */
  dataDir: string | undefined;
  /** Node: this dataset's folder in the cache root. */
  cacheDir: string | undefined;
  /** Node: system folders searched before downloading. */
  systemDirs: readonly string[];
  /** Base URLs to download or fetch from; empty means no download. */
  mirrors: readonly string[];
  /** Download progress. */
  onProgress: ProgressCallback | undefined;
  /** Check the SHA-256 of the unpacked IDX bytes. */
  verify: boolean;
}

/** One split's examples, preprocessed: `count` images of `height * width` floats in [0, 1]. */
export interface SplitArrays {
  /** `count * height * width` float32 pixel values in [0, 1], row-major, image after image. */
  images: Float32Array;
  /** `count` int32 labels in `[0, numClasses)`. */
  labels: Int32Array;
  /** Number of examples. */
  count: number;
  /** Shape of one image: `[height, width, 1]`. */
  imageShape: [number, number, 1];
}

interface RawData {
  height: number;
  width: number;
  trainImages: Uint8Array;
  trainLabels: Uint8Array;
  testImages: Uint8Array;
  testLabels: Uint8Array;
  numTrain: number;
  numTest: number;
}

/** The official train and test sets, resized and scaled, with their labels. */
export interface PreparedData {
  train: SplitArrays;
  test: SplitArrays;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

// Per-process caches: decoded files per source, resized arrays per source and size.
const rawCache = new Map<string, Promise<RawData>>();
const preparedCache = new Map<string, PreparedData>();

/**
 * Forgets every dataset decoded or resized in this process, so the next load reads the
 * files again (for benchmarks and memory-tight programs). Arrays already handed out stay valid.
 */
export function clearDatasetCache(): void {
  rawCache.clear();
  preparedCache.clear();
}

/** The dataset's train and test sets at `height x width`, from the cache when possible. */
export async function loadPrepared(
  info: DatasetInfo,
  source: SourceOptions,
  height: number,
  width: number,
): Promise<PreparedData> {
  const rawKey = JSON.stringify([
    info.name,
    source.dataDir,
    source.cacheDir,
    source.systemDirs,
    source.mirrors,
    source.verify,
  ]);
  const key = `${rawKey}|${height}x${width}`;
  const hit = preparedCache.get(key);
  if (hit) return hit;
  let rawPromise = rawCache.get(rawKey);
  if (!rawPromise) {
    rawPromise = loadRaw(info, source);
    rawCache.set(rawKey, rawPromise);
    // A failed load is not cached: the next call tries again (e.g. after a download).
    rawPromise.catch(() => rawCache.delete(rawKey));
  }
  const raw = await rawPromise;
  const again = preparedCache.get(key);
  if (again) return again;
  const prepared: PreparedData = {
    train: prepare(raw.trainImages, raw.trainLabels, raw.numTrain, raw, height, width),
    test: prepare(raw.testImages, raw.testLabels, raw.numTest, raw, height, width),
  };
  preparedCache.set(key, prepared);
  return prepared;
}

function prepare(
  images: Uint8Array,
  labels: Uint8Array,
  count: number,
  raw: RawData,
  height: number,
  width: number,
): SplitArrays {
  return {
    images: resizeBilinearTo01(images, count, raw.height, raw.width, height, width),
    labels: Int32Array.from(labels),
    count,
    imageShape: [height, width, 1],
  };
}

async function loadRaw(info: DatasetInfo, source: SourceOptions): Promise<RawData> {
  const loaded = {} as Record<IdxFileRole, { idx: IdxArray; source: string }>;
  // One file at a time: parallel downloads of ~30 MB would not finish sooner on one link.
  for (const role of IDX_FILE_ROLES) {
    const spec = info.files[role];
    const rank = role.endsWith('Images') ? 3 : 1;
    if (isNode) {
      const { loadFileNode } = await import('./node-source.js');
      loaded[role] = await loadFileNode(info, spec, rank, source);
    } else {
      loaded[role] = await loadFileFetch(info, spec, rank, source.mirrors, source.onProgress, source.verify);
    }
  }
  const train = pair(info, loaded.trainImages, loaded.trainLabels);
  const test = pair(info, loaded.testImages, loaded.testLabels);
  if (train.height !== test.height || train.width !== test.width) {
    throw new DatasetError(
      `${loaded.testImages.source}: test images are ${test.height}x${test.width}, train images ${train.height}x${train.width}`,
      loaded.testImages.source,
    );
  }
  return {
    height: train.height,
    width: train.width,
    trainImages: loaded.trainImages.idx.data,
    trainLabels: loaded.trainLabels.idx.data,
    testImages: loaded.testImages.idx.data,
    testLabels: loaded.testLabels.idx.data,
    numTrain: train.count,
    numTest: test.count,
  };
}

function pair(
  info: DatasetInfo,
  images: { idx: IdxArray; source: string },
  labels: { idx: IdxArray; source: string },
): { count: number; height: number; width: number } {
  const [count, height, width] = images.idx.dims as [number, number, number];
  const numLabels = labels.idx.dims[0]!;
  if (count !== numLabels) {
    throw new DatasetError(
      `image/label count mismatch: ${images.source} has ${count} images, ${labels.source} has ${numLabels} labels`,
      labels.source,
    );
  }
  if (height === 0 || width === 0) {
    throw new DatasetError(`${images.source}: images have an empty size ${height}x${width}`, images.source);
  }
  const data = labels.idx.data;
  for (let i = 0; i < data.length; i++) {
    if (data[i]! >= info.numClasses) {
      throw new DatasetError(
        `${labels.source}: label ${data[i]} at index ${i} is out of range for ${info.numClasses} classes`,
        labels.source,
      );
    }
  }
  return { count, height, width };
}
