import type { Batch, Datasets } from '@lopt/datasets';
import { type PRNGKey, random } from '@lopt/pytree';
import type { ActivationName } from './activations.js';
import { BaseTaskFamily } from './base-task.js';
import { ImageMLPTask } from './image-mlp-task.js';
import { type InitializerCfg, sampledInit, sampleInitializer } from './initializers.js';
import type { MLPParams } from './mlp.js';
import { choice, SAMPLED_ACTIVATIONS } from './parametric-image-mlp.js';
import { parametricClassifierNormalizer } from './parametric-normalizer.js';

/** A task of an {@link ImageMLPFamily} or `ImageConvFamily`: the sampled activation and weight initialiser. */
export interface ParametricActivationInitCfg {
  /** The hidden activation. */
  activation: ActivationName;
  /** The weight initialiser and its scale. */
  initializer: InitializerCfg;
}

/** Draws an activation and an initialiser from `key`, as the reference's parametric image families do. */
export function sampleActivationAndInit(key: PRNGKey): ParametricActivationInitCfg {
  const [actKey, initKey] = random.split(key);
  return { activation: choice(actKey!, SAMPLED_ACTIVATIONS), initializer: sampleInitializer(initKey!) };
}

/**
 * A family of image MLPs with one architecture on one dataset (the reference's
 * `ParametricImageMLP(datasets, num_classes, hidden_layers)`; lopt's `ParametricImageMLP`
 * samples the architecture per task instead). Each task draws its activation and weight
 * initialiser from the key; the data, image size, batch size and hidden sizes are the
 * family's. Families with sampled sizes come from `ImageMLPDistribution`.
 *
 * Normaliser: {@link parametricClassifierNormalizer}.
 */
export class ImageMLPFamily extends BaseTaskFamily<ParametricActivationInitCfg, MLPParams, Batch, undefined> {
  /** Hidden layer sizes of every task (may be empty: a linear model). */
  readonly hiddenSizes: readonly number[];
  private readonly familyName: string;

  /** A family on `datasets` (which fix the image size, batch size and classes). */
  constructor(datasets: Datasets, opts: { hiddenSizes: readonly number[]; name?: string }) {
    super();
    if (opts.hiddenSizes.some((h) => !Number.isInteger(h) || h < 1)) {
      throw new Error(`ImageMLPFamily: hiddenSizes must be positive integers, got [${opts.hiddenSizes.join(', ')}]`);
    }
    this.datasets = datasets;
    this.hiddenSizes = opts.hiddenSizes.slice();
    const [h, w] = datasets.imageSize;
    this.familyName =
      opts.name ??
      `ImageMLPFamily_${datasets.name}_${h}x${w}_bs${datasets.batchSize}_${this.hiddenSizes.join('x') || 'linear'}`;
  }

  /** The family's name: dataset, image size, batch size and hidden sizes. */
  override get name(): string {
    return this.familyName;
  }

  /** An activation and an initialiser drawn from `key`. */
  sample(key: PRNGKey): ParametricActivationInitCfg {
    return sampleActivationAndInit(key);
  }

  /** The MLP task of `cfg`. */
  taskFn(cfg: ParametricActivationInitCfg): ImageMLPTask {
    const datasets = this.datasets!;
    return new ImageMLPTask(datasets, {
      hiddenSizes: this.hiddenSizes,
      activation: cfg.activation,
      name: `${this.familyName}_${cfg.activation}`,
      weightInit: (key, shape) => sampledInit(cfg.initializer, key, shape),
      normalizer: parametricClassifierNormalizer(datasets.numClasses),
    });
  }
}
