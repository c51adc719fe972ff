import type { Batch, Datasets } from '@lopt/datasets';
import { type PRNGKey, random } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { ActivationName } from './activations.js';
import { BaseTaskFamily } from './base-task.js';
import { type ImageDatasetName, type ImageTaskOptions, loadTaskDatasets } from './image-data.js';
import { ImageMLPTask } from './image-mlp-task.js';
import { type InitializerCfg, sampledInit, sampleInitializer } from './initializers.js';
import type { MLPParams } from './mlp.js';

/** The activations the reference samples from, in its order (relu twice: it is drawn twice as often). */
export const SAMPLED_ACTIVATIONS: readonly ActivationName[] = [
  'relu',
  'relu',
  'relu6',
  'selu',
  'tanh',
  'cos',
  'sin',
  'sigmoid',
  'silu',
  'swish',
  'gelu',
  'leaky_relu_neg05',
];

/** A sampled `ParametricImageMLP` task: plain data, so it can be logged, stored and compared. */
export interface ParametricImageMLPCfg {
  /** Which of the family's datasets. */
  dataset: string;
  /** Hidden layer sizes: `numLayers` times one sampled size (may be empty: a linear model). */
  hiddenSizes: number[];
  /** The hidden activation. */
  activation: ActivationName;
  /** The weight initialiser and its scale. */
  initializer: InitializerCfg;
}

/** A number log-uniform in [lower, upper), truncated to an integer (the reference's `log_int`). */
export function logInt(key: PRNGKey, lower: number, upper: number): number {
  const u = random.uniform(key, [], Math.log(lower), Math.log(upper));
  const v = Math.trunc(Math.exp(u.dataSync()[0]!));
  u.dispose();
  return v;
}

/** One of `vals`, uniformly (the reference's `choice`: a `randint` index). */
export function choice<T>(key: PRNGKey, vals: readonly T[]): T {
  return vals[random.randintArray(key, 1, 0, vals.length)[0]!]!;
}

/** Options of {@link ParametricImageMLP.create}. */
export interface ParametricImageMLPOptions extends ImageTaskOptions {
  /** The datasets to sample from (default Fashion-MNIST and MNIST). */
  datasetNames?: readonly ImageDatasetName[];
  /** The image size every dataset is loaded at (default 8x8). */
  imageSize?: readonly [number, number];
}

/**
 * A family of image MLPs (the reference's `ParametricImageMLP` combined with its
 * `sample_image_mlp`): `sample` draws a hidden size (log-uniform in [8, 128)), a depth
 * (0 to 4 hidden layers), a dataset, an activation and a weight initialiser, and returns
 * them as a plain {@link ParametricImageMLPCfg}; the same key gives the same config. The
 * datasets are loaded once, at one image size (the reference also samples image and batch
 * sizes, which would mean reloading data per task).
 *
 * Normaliser as the reference's: `(clip(loss, 0, ln 2C) - ln(C/5)) * 10 / ln C`, NaN and
 * infinities mapped to `ln 2C` first.
 */
export class ParametricImageMLP extends BaseTaskFamily<ParametricImageMLPCfg, MLPParams, Batch, undefined> {
  /** The datasets the family samples from, by name. */
  readonly datasetsByName: Readonly<Record<string, Datasets>>;

  /** A family over already loaded datasets (use `create` to load them). */
  constructor(datasetsByName: Record<string, Datasets>) {
    super();
    if (Object.keys(datasetsByName).length === 0) throw new Error('ParametricImageMLP: give at least one dataset');
    this.datasetsByName = { ...datasetsByName };
  }

  /** Loads the datasets (default Fashion-MNIST and MNIST at 8x8) and makes the family. */
  static async create(opts: ParametricImageMLPOptions = {}): Promise<ParametricImageMLP> {
    const { datasetNames = ['fashion_mnist', 'mnist'], imageSize = [8, 8], datasets: _ignored, ...rest } = opts;
    const loaded: Record<string, Datasets> = {};
    for (const name of datasetNames) {
      loaded[name] = await loadTaskDatasets('ParametricImageMLP', name, imageSize, rest);
    }
    return new ParametricImageMLP(loaded);
  }

  /** A config drawn from `key`, deterministically. */
  sample(key: PRNGKey): ParametricImageMLPCfg {
    const [outer, inner] = random.split(key);
    const [k1, k2, k3] = random.split(outer!, 3);
    const hiddenSize = logInt(k1!, 8, 128);
    const numLayers = choice(k2!, [0, 1, 2, 3, 4]);
    const dataset = choice(k3!, Object.keys(this.datasetsByName).sort());
    const [actKey, initKey] = random.split(inner!);
    return {
      dataset,
      hiddenSizes: Array.from({ length: numLayers }, () => hiddenSize),
      activation: choice(actKey!, SAMPLED_ACTIVATIONS),
      initializer: sampleInitializer(initKey!),
    };
  }

  /** The MLP task of `cfg`. */
  taskFn(cfg: ParametricImageMLPCfg): ImageMLPTask {
    const datasets = this.datasetsByName[cfg.dataset];
    if (!datasets) {
      throw new Error(
        `${this.name}: unknown dataset '${cfg.dataset}' (the family has ${Object.keys(this.datasetsByName).join(', ')})`,
      );
    }
    const c = datasets.numClasses;
    const maxClass = Math.log(2 * c);
    return new ImageMLPTask(datasets, {
      hiddenSizes: cfg.hiddenSizes,
      activation: cfg.activation,
      name: `ParametricImageMLP_${cfg.dataset}_${cfg.hiddenSizes.join('x') || 'linear'}_${cfg.activation}`,
      weightInit: (key, shape) => sampledInit(cfg.initializer, key, shape),
      normalizer: (loss) =>
        tf.tidy(() => {
          const bad = tf.logicalOr(tf.isNaN(loss), tf.isInf(loss));
          const clean = tf.clipByValue(tf.where(bad, tf.fill(loss.shape, maxClass), loss), 0, maxClass);
          return tf.mul(tf.sub(clean, Math.log(c / 5)), 10 / Math.log(c));
        }),
    });
  }
}
