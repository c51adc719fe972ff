import type { Batch, Datasets } from '@lopt/datasets';
import type { PRNGKey } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { type Activation, getActivation } from './activations.js';
import { BaseTask } from './base-task.js';
import type { BatchedTask } from './batched.js';
import { checkImageBatch, checkParamShapes, type ShapeTree } from './check.js';
import { fusedActivationName, mlpBatchedLoss, mlpLoss } from './fused-mlp.js';
import { clipNormalizer, meanSoftmaxCrossEntropy } from './losses.js';
import { initMLP, linearName, type MLPParams, type MLPSpec, mlpForward, mlpParamShapes } from './mlp.js';

/** The loss of an image MLP: softmax cross-entropy (the default) or squared error to one-hot labels. */
export type ImageLossKind = 'softmax_cross_entropy' | 'mse';

/** Options of {@link ImageMLPTask}. */
export interface ImageMLPTaskOptions {
  /** Hidden layer sizes (the output layer has `numClasses` units). */
  hiddenSizes: readonly number[];
  /** Hidden activation: a name from `ACTIVATIONS` or a function (default `'relu'`). */
  activation?: string | Activation;
  /** The loss (default softmax cross-entropy). */
  loss?: ImageLossKind;
  /** A LayerNorm after every hidden layer, before the activation (the reference's `_MLPImageTaskNorm`). */
  layerNorm?: boolean;
  /** The task's name (default `'ImageMLPTask'`). */
  name?: string;
  /** Replaces Haiku's default weight initialiser (truncated normal, std 1/sqrt(fan_in)). */
  weightInit?: (key: PRNGKey, shape: readonly number[]) => tf.Tensor;
  /** Replaces the default normaliser of the loss kind. */
  normalizer?: (loss: tf.Tensor) => tf.Tensor;
}

/** The `[H, W, C]` of one image of `datasets`. */
export function imageShapeOf(datasets: Datasets): [number, number, number] {
  const s = datasets.elementSpec.image.shape;
  return [s[1]!, s[2]!, s[3] ?? 1];
}

/**
 * An MLP classifier on flattened images (the reference's `_MLPImageTask`, and with
 * `layerNorm` its `_MLPImageTaskNorm`, and with `loss: 'mse'` its `_MLPImageTaskMSE`).
 * Parameters are named as Haiku names them (`'mlp/~/linear_0': { w, b }`, ...).
 *
 * The forward pass is one matmul and one add per layer. `batchedLoss` (K stacked
 * parameter sets) is derived from `loss` (see `mlpBatchedLoss`), not a second copy of it:
 * the same plain ops over a leading axis.
 */
export class ImageMLPTask extends BaseTask<MLPParams, Batch> implements BatchedTask<MLPParams, Batch> {
  /** The network: sizes, activation, LayerNorm. */
  readonly spec: MLPSpec;
  /** The loss kind. */
  readonly lossKind: ImageLossKind;
  /** The number of classes. */
  readonly numClasses: number;
  /** `[H, W, C]` of one image. */
  readonly imageShape: [number, number, number];
  private readonly taskName: string;
  private readonly shapes: Record<string, ShapeTree>;
  private readonly weightInit: ImageMLPTaskOptions['weightInit'];
  private readonly customNormalizer: ImageMLPTaskOptions['normalizer'];
  /** The fused kernels' view of this MLP, when they can run it (see `mlpLoss`). */
  readonly fused?: { modules: string[]; act: 'relu' | 'tanh' };

  /** An MLP on `datasets` (which fix the input size and the number of classes). */
  constructor(datasets: Datasets, opts: ImageMLPTaskOptions) {
    super();
    this.datasets = datasets;
    this.numClasses = datasets.numClasses;
    this.imageShape = imageShapeOf(datasets);
    const act = opts.activation ?? 'relu';
    this.spec = {
      inputSize: this.imageShape[0] * this.imageShape[1] * this.imageShape[2],
      sizes: [...opts.hiddenSizes, this.numClasses],
      activation: typeof act === 'string' ? getActivation(act) : act,
      layerNorm: opts.layerNorm ?? false,
    };
    this.lossKind = opts.loss ?? 'softmax_cross_entropy';
    this.taskName = opts.name ?? 'ImageMLPTask';
    this.shapes = mlpParamShapes(this.spec);
    this.weightInit = opts.weightInit;
    this.customNormalizer = opts.normalizer;
    // Cross-entropy MLPs with relu or tanh have fused kernels (see `mlpLoss`).
    const fusedAct = fusedActivationName(this.spec.activation);
    if (!this.spec.layerNorm && this.lossKind === 'softmax_cross_entropy' && fusedAct) {
      this.fused = { modules: this.spec.sizes.map((_, i) => linearName(this.spec, i)), act: fusedAct };
    }
  }

  /** The task's name (the factory's name for the named tasks). */
  override get name(): string {
    return this.taskName;
  }

  /** The shapes of the parameters, by module and parameter name. */
  paramShapes(): Record<string, ShapeTree> {
    return this.shapes;
  }

  /** Fresh parameters, drawn as Haiku does from `key`. */
  init(key: PRNGKey): MLPParams {
    return initMLP(this.spec, key, this.weightInit);
  }

  /** Mean loss over the batch (`data.image` `[B, H, W, C]`, `data.label` `[B]` int32). */
  loss(params: MLPParams, _key: PRNGKey, data: Batch): tf.Scalar {
    checkParamShapes(this.name, this.shapes, params);
    checkImageBatch(this.name, data, this.imageShape);
    return mlpLoss(this, params, data);
  }

  /**
   * `loss` in plain ops (the reference of the `mlpLoss` op), without the input checks.
   * Its math broadcasts over a leading axis: with K stacked parameter sets (and images
   * shared or `[K, B, H, W, C]`) it gives the K losses, `[K]`, from which `batchedLoss`
   * is derived (`mlpBatchedLoss`).
   */
  plainLoss(params: MLPParams, data: Batch): tf.Scalar {
    return tf.tidy(() => this.lossOf(params, data.image, data.label)) as tf.Scalar;
  }

  /**
   * The K losses of stacked parameters (every leaf with a leading axis K). `data` is one
   * batch for every member, or per-member batches (`image` `[K, B, H, W, C]`, `label` `[K, B]`).
   * The `mlpBatchedLoss` op: `plainLoss` over the stacked parameters, or one fused kernel.
   */
  batchedLoss(stackedParams: MLPParams, keys: readonly PRNGKey[], data: Batch): tf.Tensor1D {
    const k = keys.length;
    checkParamShapes(this.name, this.shapes, stackedParams, [k]);
    const perMember = data?.image instanceof tf.Tensor && data.image.rank === 5;
    checkImageBatch(this.name, data, this.imageShape, perMember ? [k] : []);
    return tf.tidy(() => mlpBatchedLoss(this, stackedParams, data));
  }

  /**
   * Logits `[..., B, C]` for images `[..., B, H, W, C]`: `[B, C]` for one parameter set,
   * `[K, B, C]` for K stacked ones (images shared `[B, H, W, C]` or `[K, B, H, W, C]`).
   */
  logits(params: MLPParams, image: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const flat = tf.reshape(image, [...image.shape.slice(0, -3), this.spec.inputSize]);
      return mlpForward(this.spec, params, flat);
    });
  }

  private lossOf(params: MLPParams, image: tf.Tensor, label: tf.Tensor): tf.Tensor {
    const logits = this.logits(params, image);
    const onehot = tf.cast(tf.oneHot(label, this.numClasses), 'float32');
    if (this.lossKind === 'mse') {
      const r = logits.rank;
      return tf.mean(tf.squaredDifference(logits, onehot), [r - 2, r - 1]);
    }
    return meanSoftmaxCrossEntropy(logits, onehot);
  }

  /**
   * Cross-entropy tasks: clip to `[0, 1.5 ln(numClasses)]`, NaN mapped to the maximum.
   * MSE tasks: NaN and infinities mapped to 1, then `min(loss, 1) * 10`.
   */
  override normalizer(loss: tf.Tensor): tf.Tensor {
    if (this.customNormalizer) return this.customNormalizer(loss);
    if (this.lossKind === 'mse') {
      return tf.tidy(() => {
        const bad = tf.logicalOr(tf.isNaN(loss), tf.isInf(loss));
        return tf.mul(tf.minimum(tf.where(bad, tf.onesLike(loss), loss), 1), 10);
      });
    }
    return clipNormalizer(loss, 1.5 * Math.log(this.numClasses));
  }
}
