import type { PRNGKey } from '@lopt/pytree';
import { ImageConvFamily } from './image-conv-family.js';
import { type ImageDatasetName, type ImageTaskOptions, loadTaskDatasets } from './image-data.js';
import {
  type ImageDistributionOptions,
  type ResolvedImageDistributionOptions,
  rejectionSample,
  resolveImageDistributionOptions,
} from './image-distribution-common.js';
import { KeySequence } from './init.js';
import { choice, logInt } from './parametric-image-mlp.js';
import type { TaskDistribution } from './task-distribution.js';

/** A family drawn by {@link ImageConvDistribution}: plain data. */
export interface ImageConvFamilyCfg {
  /** Always `'ImageConvFamily'`. */
  family: 'ImageConvFamily';
  /** The dataset. */
  dataset: ImageDatasetName;
  /** `[height, width]` the images are resized to. */
  imageSize: [number, number];
  /** Examples per batch. */
  batchSize: number;
  /** Channels of the conv layers (`numLayers` times one sampled width). */
  hiddenSizes: number[];
  /** Stride of each conv layer (the first `numStride` layers 2, the rest 1). */
  strides: number[];
}

const NUM_CLASSES: Record<ImageDatasetName, number> = { fashion_mnist: 10, mnist: 10, cifar10: 10, cifar100: 100 };

/** Estimated multiply-adds of one training step of `cfg` (3x3 SAME convs), times 6 (forward and backward). */
export function imageConvFlopsPerStep(cfg: ImageConvFamilyCfg): number {
  let [h, w] = cfg.imageSize;
  let cin = cfg.dataset.startsWith('cifar') ? 3 : 1;
  let macs = 0;
  cfg.hiddenSizes.forEach((c, i) => {
    const s = cfg.strides[i]!;
    h = Math.ceil(h / s);
    w = Math.ceil(w / s);
    macs += h * w * 9 * cin * c;
    cin = c;
  });
  macs += cin * NUM_CLASSES[cfg.dataset];
  return 6 * cfg.batchSize * macs;
}

/**
 * Conv-net families with sampled width, depth, strides, image size, batch size and
 * dataset (the reference's `sample_image_conv`): from a key sequence, a width log-uniform
 * in `hiddenSize` (default [4, 64)), a depth from `numLayers` (default 0 to 3), a number of
 * stride-2 leading layers from {0, 1, 2} (capped at the depth), a square image side
 * log-uniform in `imageSize` ([4, 32)), a dataset from `datasets` and a batch size
 * log-uniform in `batchSize` ([4, 512)). Each family's tasks then draw an activation and
 * an initialiser ({@link ImageConvFamily}). The same key gives the same config on every
 * backend.
 */
export class ImageConvDistribution implements TaskDistribution<ImageConvFamilyCfg> {
  /** The resolved options. */
  readonly options: ResolvedImageDistributionOptions;

  /** A distribution with `opts` (checked: an unknown key or a bad range throws). */
  constructor(opts: ImageDistributionOptions = {}) {
    this.options = resolveImageDistributionOptions(
      opts,
      { hiddenSize: [4, 64], numLayers: [0, 1, 2, 3] },
      'ImageConvDistribution',
    );
  }

  /** `'ImageConvDistribution'`. */
  get name(): string {
    return 'ImageConvDistribution';
  }

  /** A family config drawn from `key` (redrawn while over `maxFlopsPerStep`). */
  sample(key: PRNGKey): ImageConvFamilyCfg {
    return rejectionSample(
      key,
      (k) => this.sampleOnce(k),
      imageConvFlopsPerStep,
      this.options.maxFlopsPerStep,
      this.name,
    );
  }

  private sampleOnce(key: PRNGKey): ImageConvFamilyCfg {
    const o = this.options;
    const rng = new KeySequence(key);
    const width = logInt(rng.next(), o.hiddenSize[0], o.hiddenSize[1]);
    const depth = choice(rng.next(), o.numLayers);
    rng.next(); // the reference draws a first-layer stride here and then overrides it
    const numStride = Math.min(depth, choice(rng.next(), [0, 1, 2]));
    const side = logInt(rng.next(), o.imageSize[0], o.imageSize[1]);
    const dataset = choice(rng.next(), o.datasets);
    const batchSize = logInt(rng.next(), o.batchSize[0], o.batchSize[1]);
    return {
      family: 'ImageConvFamily',
      dataset,
      imageSize: [side, side],
      batchSize,
      hiddenSizes: Array.from({ length: depth }, () => width),
      strides: Array.from({ length: depth }, (_, i) => (i < numStride ? 2 : 1)),
    };
  }

  /** Loads the config's data (at its image and batch size) and builds its family. */
  async familyFn(cfg: ImageConvFamilyCfg, opts: ImageTaskOptions = {}): Promise<ImageConvFamily> {
    const { datasets: _given, ...rest } = opts;
    const datasets = await loadTaskDatasets(this.name, cfg.dataset, cfg.imageSize, {
      ...rest,
      batchSize: cfg.batchSize,
    });
    return new ImageConvFamily(datasets, { hiddenSizes: cfg.hiddenSizes, strides: cfg.strides });
  }
}
