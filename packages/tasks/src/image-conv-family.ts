import type { Batch, Datasets } from '@lopt/datasets';
import type { PRNGKey } from '@lopt/pytree';
import { BaseTaskFamily } from './base-task.js';
import { type ConvParams, ConvTask } from './conv-task.js';
import { type ParametricActivationInitCfg, sampleActivationAndInit } from './image-mlp-family.js';
import { sampledInit } from './initializers.js';
import { parametricClassifierNormalizer } from './parametric-normalizer.js';

/** Options of {@link ImageConvFamily}. */
export interface ImageConvFamilyOptions {
  /** Output channels of each 3x3 SAME conv layer (may be empty: a linear model on pooled pixels). */
  hiddenSizes: readonly number[];
  /** Stride of each conv layer (default 1 everywhere). */
  strides?: readonly number[];
  /** The family's name (default from the data and architecture). */
  name?: string;
}

/**
 * A family of conv nets with one architecture on one dataset (the reference's
 * `ParametricImageConv`): 3x3 SAME convs with the given channels and strides, each
 * followed by the activation, a spatial mean and a linear head; mean softmax
 * cross-entropy. Each task draws its activation and the conv kernels' initialiser from
 * the key. Families with sampled sizes come from `ImageConvDistribution`.
 *
 * Normaliser: `parametricClassifierNormalizer`.
 */
export class ImageConvFamily extends BaseTaskFamily<ParametricActivationInitCfg, ConvParams, Batch, undefined> {
  /** Channels of the conv layers. */
  readonly hiddenSizes: readonly number[];
  /** Strides of the conv layers. */
  readonly strides: readonly number[];
  private readonly familyName: string;

  /** A family on `datasets` (which fix the image size, batch size and classes). */
  constructor(datasets: Datasets, opts: ImageConvFamilyOptions) {
    super();
    this.datasets = datasets;
    this.hiddenSizes = opts.hiddenSizes.slice();
    this.strides = opts.strides ? opts.strides.slice() : this.hiddenSizes.map(() => 1);
    if (this.hiddenSizes.some((h) => !Number.isInteger(h) || h < 1)) {
      throw new Error(`ImageConvFamily: hiddenSizes must be positive integers, got [${this.hiddenSizes.join(', ')}]`);
    }
    if (this.strides.length !== this.hiddenSizes.length || this.strides.some((s) => !Number.isInteger(s) || s < 1)) {
      throw new Error(
        `ImageConvFamily: strides must be ${this.hiddenSizes.length} positive integers (one per conv layer), got [${this.strides.join(', ')}]`,
      );
    }
    const [h, w] = datasets.imageSize;
    const arch = this.hiddenSizes.map((c, i) => `${c}s${this.strides[i]}`).join('x') || 'linear';
    this.familyName = opts.name ?? `ImageConvFamily_${datasets.name}_${h}x${w}_bs${datasets.batchSize}_${arch}`;
  }

  /** The family's name: dataset, image size, batch size and layers. */
  override get name(): string {
    return this.familyName;
  }

  /** An activation and an initialiser drawn from `key`. */
  sample(key: PRNGKey): ParametricActivationInitCfg {
    return sampleActivationAndInit(key);
  }

  /** The conv-net task of `cfg`. */
  taskFn(cfg: ParametricActivationInitCfg): ConvTask {
    const datasets = this.datasets!;
    return new ConvTask(datasets, {
      hiddenUnits: this.hiddenSizes,
      strides: this.strides,
      activation: cfg.activation,
      name: `${this.familyName}_${cfg.activation}`,
      weightInit: (key, shape) => sampledInit(cfg.initializer, key, shape),
      normalizer: parametricClassifierNormalizer(datasets.numClasses),
    });
  }
}
