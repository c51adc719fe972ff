import type { PRNGKey } from '@lopt/pytree';
import { random } from '@lopt/pytree';
import { type ImageDatasetName, type ImageTaskOptions, loadTaskDatasets } from './image-data.js';
import {
  type ImageDistributionOptions,
  type ResolvedImageDistributionOptions,
  rejectionSample,
  resolveImageDistributionOptions,
} from './image-distribution-common.js';
import { ImageMLPFamily } from './image-mlp-family.js';
import { choice, logInt } from './parametric-image-mlp.js';
import type { TaskDistribution } from './task-distribution.js';

/** A family drawn by {@link ImageMLPDistribution}: plain data. */
export interface ImageMLPFamilyCfg {
  /** Always `'ImageMLPFamily'`. */
  family: 'ImageMLPFamily';
  /** The dataset. */
  dataset: ImageDatasetName;
  /** `[height, width]` the images are resized to. */
  imageSize: [number, number];
  /** Examples per batch. */
  batchSize: number;
  /** Hidden layer sizes (`numLayers` times one sampled width; empty: a linear model). */
  hiddenSizes: number[];
}

const NUM_CLASSES: Record<ImageDatasetName, number> = { fashion_mnist: 10, mnist: 10, cifar10: 10, cifar100: 100 };

/** Estimated multiply-adds of one training step of `cfg`, times 6 (forward and backward). */
export function imageMLPFlopsPerStep(cfg: ImageMLPFamilyCfg): number {
  const channels = cfg.dataset.startsWith('cifar') ? 3 : 1;
  const sizes = [cfg.imageSize[0] * cfg.imageSize[1] * channels, ...cfg.hiddenSizes, NUM_CLASSES[cfg.dataset]];
  let macs = 0;
  for (let i = 0; i + 1 < sizes.length; i++) macs += sizes[i]! * sizes[i + 1]!;
  return 6 * cfg.batchSize * macs;
}

/**
 * Image MLP families with sampled width, depth, image size, batch size and dataset (the
 * reference's `sample_image_mlp`): from five keys split off the key, a width log-uniform
 * in `hiddenSize` (default [8, 128)), a depth from `numLayers` (default 0 to 4), a square
 * image side log-uniform in `imageSize` ([4, 32)), a batch size log-uniform in `batchSize`
 * ([4, 512)) and a dataset from `datasets` (Fashion-MNIST and MNIST). Each family's tasks
 * then draw an activation and an initialiser ({@link ImageMLPFamily}). The same key gives
 * the same config on every backend.
 */
export class ImageMLPDistribution implements TaskDistribution<ImageMLPFamilyCfg> {
  /** The resolved options. */
  readonly options: ResolvedImageDistributionOptions;

  /** A distribution with `opts` (checked: an unknown key or a bad range throws). */
  constructor(opts: ImageDistributionOptions = {}) {
    this.options = resolveImageDistributionOptions(
      opts,
      { hiddenSize: [8, 128], numLayers: [0, 1, 2, 3, 4] },
      'ImageMLPDistribution',
    );
  }

  /** `'ImageMLPDistribution'`. */
  get name(): string {
    return 'ImageMLPDistribution';
  }

  /** A family config drawn from `key` (redrawn while over `maxFlopsPerStep`). */
  sample(key: PRNGKey): ImageMLPFamilyCfg {
    const o = this.options;
    return rejectionSample(key, (k) => this.sampleOnce(k), imageMLPFlopsPerStep, o.maxFlopsPerStep, this.name);
  }

  private sampleOnce(key: PRNGKey): ImageMLPFamilyCfg {
    const o = this.options;
    const [k1, k2, k3, k4, k5] = random.split(key, 5);
    const width = logInt(k1!, o.hiddenSize[0], o.hiddenSize[1]);
    const depth = choice(k2!, o.numLayers);
    const side = logInt(k3!, o.imageSize[0], o.imageSize[1]);
    const batchSize = logInt(k4!, o.batchSize[0], o.batchSize[1]);
    return {
      family: 'ImageMLPFamily',
      dataset: choice(k5!, o.datasets),
      imageSize: [side, side],
      batchSize,
      hiddenSizes: Array.from({ length: depth }, () => width),
    };
  }

  /** Loads the config's data (at its image and batch size) and builds its family. */
  async familyFn(cfg: ImageMLPFamilyCfg, opts: ImageTaskOptions = {}): Promise<ImageMLPFamily> {
    const { datasets: _given, ...rest } = opts;
    const datasets = await loadTaskDatasets(this.name, cfg.dataset, cfg.imageSize, {
      ...rest,
      batchSize: cfg.batchSize,
    });
    return new ImageMLPFamily(datasets, { hiddenSizes: cfg.hiddenSizes });
  }
}
