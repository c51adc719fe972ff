import type { PRNGKey } from '@lopt/pytree';
import { random } from '@lopt/pytree';
import type { ImageDatasetName } from './image-data.js';
import { assertKnownKeys, intChoices, nameList, positiveRange } from './options-check.js';

/** Dataset names the image distributions can sample. */
export const IMAGE_DISTRIBUTION_DATASETS: readonly ImageDatasetName[] = [
  'fashion_mnist',
  'mnist',
  'cifar10',
  'cifar100',
];

/** Options shared by the image family distributions (plain data, as a recipe file holds them). */
export interface ImageDistributionOptions {
  /** Datasets to draw from, uniformly (default `['fashion_mnist', 'mnist']`; CIFAR needs local files). */
  datasets?: ImageDatasetName[];
  /** Square image side, log-uniform integer in `[min, max)` (the reference: `[4, 32]`). */
  imageSize?: [number, number];
  /** Batch size, log-uniform integer in `[min, max)` (the reference: `[4, 512]`). */
  batchSize?: [number, number];
  /** Width of every hidden layer, log-uniform integer in `[min, max)`. */
  hiddenSize?: [number, number];
  /** Depths to choose from, uniformly. */
  numLayers?: number[];
  /**
   * Rejects configs whose estimated cost of one training step (multiply-adds of the
   * forward pass times 6, for forward and backward) is larger, and draws again (the
   * reference rejects by a learned timing model instead). Default: no limit.
   */
  maxFlopsPerStep?: number;
}

/** Resolved {@link ImageDistributionOptions}. */
export interface ResolvedImageDistributionOptions {
  /** See {@link ImageDistributionOptions.datasets}. */
  datasets: ImageDatasetName[];
  /** See {@link ImageDistributionOptions.imageSize}. */
  imageSize: [number, number];
  /** See {@link ImageDistributionOptions.batchSize}. */
  batchSize: [number, number];
  /** See {@link ImageDistributionOptions.hiddenSize}. */
  hiddenSize: [number, number];
  /** See {@link ImageDistributionOptions.numLayers}. */
  numLayers: number[];
  /** See {@link ImageDistributionOptions.maxFlopsPerStep}. */
  maxFlopsPerStep: number;
}

const KEYS = ['datasets', 'imageSize', 'batchSize', 'hiddenSize', 'numLayers', 'maxFlopsPerStep'] as const;

/** Checks `opts` (unknown keys, ranges) and fills in `defaults`. */
export function resolveImageDistributionOptions(
  opts: unknown,
  defaults: Omit<ResolvedImageDistributionOptions, 'datasets' | 'imageSize' | 'batchSize' | 'maxFlopsPerStep'>,
  where: string,
): ResolvedImageDistributionOptions {
  const o = (opts ?? {}) as Record<string, unknown>;
  assertKnownKeys(o, KEYS, where);
  const maxFlops = o.maxFlopsPerStep ?? Number.POSITIVE_INFINITY;
  if (typeof maxFlops !== 'number' || !(maxFlops > 0)) {
    throw new Error(`${where}: maxFlopsPerStep must be a positive number, got ${JSON.stringify(o.maxFlopsPerStep)}`);
  }
  return {
    datasets:
      o.datasets === undefined
        ? ['fashion_mnist', 'mnist']
        : nameList(o.datasets, IMAGE_DISTRIBUTION_DATASETS, `${where}.datasets`),
    imageSize:
      o.imageSize === undefined ? [4, 32] : positiveRange(o.imageSize, `${where}.imageSize`, { integer: true }),
    batchSize:
      o.batchSize === undefined ? [4, 512] : positiveRange(o.batchSize, `${where}.batchSize`, { integer: true }),
    hiddenSize:
      o.hiddenSize === undefined
        ? defaults.hiddenSize
        : positiveRange(o.hiddenSize, `${where}.hiddenSize`, { integer: true }),
    numLayers: o.numLayers === undefined ? defaults.numLayers : intChoices(o.numLayers, `${where}.numLayers`),
    maxFlopsPerStep: maxFlops,
  };
}

/**
 * Draws with `draw(key)` until `cost(cfg) <= max`: the first try uses `key` itself, try `i`
 * uses `foldIn(key, i)`, so the result depends on the key alone. Gives up after 1000 tries.
 */
export function rejectionSample<C>(
  key: PRNGKey,
  draw: (k: PRNGKey) => C,
  cost: (c: C) => number,
  max: number,
  where: string,
): C {
  for (let i = 0; i < 1000; i++) {
    const cfg = draw(i === 0 ? key : random.foldIn(key, i));
    if (cost(cfg) <= max) return cfg;
  }
  throw new Error(
    `${where}: no config within maxFlopsPerStep ${max} in 1000 draws; raise the limit or narrow the ranges`,
  );
}
