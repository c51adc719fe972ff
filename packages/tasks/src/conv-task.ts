import type { Batch, Datasets } from '@lopt/datasets';
import type { PRNGKey } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { type Activation, getActivation } from './activations.js';
import { BaseTask } from './base-task.js';
import { checkImageBatch, checkParamShapes, type ShapeTree } from './check.js';
import { imageShapeOf } from './image-mlp-task.js';
import { fanInWeight, KeySequence } from './init.js';
import { clipNormalizer, meanSoftmaxCrossEntropy } from './losses.js';
import { type LayerNormParams, type LinearParams, layerNorm, linear, type ModuleParams } from './mlp.js';

/** Conv-net parameters by Haiku module name: `conv2_d`, `conv2_d_1`, ..., `linear` (and `layer_norm*`). */
export type ConvParams = Record<string, ModuleParams>;

/** Options of {@link ConvTask}. */
export interface ConvTaskOptions {
  /** Output channels of each 3x3 conv layer. */
  hiddenUnits: readonly number[];
  /** Stride of each conv layer (default: 2 for the first, 1 for the others, as the reference). */
  strides?: readonly number[];
  /**
   * What the linear head reads: the spatial mean of the last conv's output (`'meanPool'`,
   * the default, as the reference) or all of it flattened (`'flatten'`).
   */
  head?: 'meanPool' | 'flatten';
  /** Activation after each conv (default `'relu'`). */
  activation?: string | Activation;
  /** A LayerNorm over channels after each activation (the reference's `Conv_..._layernorm`). */
  layerNorm?: boolean;
  /** The task's name. */
  name?: string;
  /** Replaces Haiku's default weight initialiser (truncated normal, std 1/sqrt(fan_in)) of the conv kernels (the linear head keeps it, as in the reference's parametric conv nets). */
  weightInit?: (key: PRNGKey, shape: readonly number[]) => tf.Tensor;
  /** Replaces the default normaliser. */
  normalizer?: (loss: tf.Tensor) => tf.Tensor;
}

const numbered = (base: string, i: number) => (i === 0 ? base : `${base}_${i}`);

/**
 * A conv net classifier as the reference's `_ConvTask` / `_cross_entropy_pool_loss`:
 * 3x3 SAME convs (stride 2 on the first layer, 1 after, unless `strides` says otherwise),
 * each followed by the activation, then a spatial average pool (or, with `head:
 * 'flatten'`, the flattened features) and a linear head; mean softmax cross-entropy. Parameters
 * are named as Haiku names them. Batched evaluation falls back to a loop (`batchedLoss`).
 */
export class ConvTask extends BaseTask<ConvParams, Batch> {
  /** Channels of the conv layers. */
  readonly hiddenUnits: readonly number[];
  /** The number of classes. */
  readonly numClasses: number;
  /** `[H, W, C]` of one image. */
  readonly imageShape: [number, number, number];
  private readonly activation: Activation;
  private readonly useLayerNorm: boolean;
  private readonly head: 'meanPool' | 'flatten';
  private readonly taskName: string;
  private readonly shapes: Record<string, ShapeTree>;
  /** Stride of each conv layer. */
  readonly strides: readonly number[];
  private readonly weightInit: ConvTaskOptions['weightInit'];
  private readonly customNormalizer: ConvTaskOptions['normalizer'];

  /** A conv net on `datasets`. */
  constructor(datasets: Datasets, opts: ConvTaskOptions) {
    super();
    this.datasets = datasets;
    this.numClasses = datasets.numClasses;
    this.imageShape = imageShapeOf(datasets);
    this.hiddenUnits = opts.hiddenUnits.slice();
    const act = opts.activation ?? 'relu';
    this.activation = typeof act === 'string' ? getActivation(act) : act;
    this.useLayerNorm = opts.layerNorm ?? false;
    this.taskName = opts.name ?? 'ConvTask';
    this.strides = this.hiddenUnits.map((_, i) => opts.strides?.[i] ?? (i === 0 ? 2 : 1));
    if (opts.strides && opts.strides.length !== this.hiddenUnits.length) {
      throw new Error(
        `${this.taskName}: strides has ${opts.strides.length} entries for ${this.hiddenUnits.length} conv layers`,
      );
    }
    if (!this.strides.every((s) => Number.isInteger(s) && s >= 1)) {
      throw new Error(`${this.taskName}: strides must be positive integers, got [${this.strides.join(', ')}]`);
    }
    this.head = opts.head ?? 'meanPool';
    this.weightInit = opts.weightInit;
    this.customNormalizer = opts.normalizer;
    const shapes: Record<string, ShapeTree> = {};
    let cin = this.imageShape[2];
    // SAME padding: each conv maps a side of n pixels to ceil(n / stride).
    let [h, w] = [this.imageShape[0], this.imageShape[1]];
    this.hiddenUnits.forEach((c, i) => {
      shapes[numbered('conv2_d', i)] = { w: [3, 3, cin, c], b: [c] };
      if (this.useLayerNorm) shapes[numbered('layer_norm', i)] = { scale: [c], offset: [c] };
      cin = c;
      h = Math.ceil(h / this.strides[i]!);
      w = Math.ceil(w / this.strides[i]!);
    });
    const features = this.head === 'flatten' ? h * w * cin : cin;
    shapes.linear = { w: [features, this.numClasses], b: [this.numClasses] };
    this.shapes = shapes;
  }

  /** The task's name. */
  override get name(): string {
    return this.taskName;
  }

  /** The shapes of the parameters, by module and parameter name. */
  paramShapes(): Record<string, ShapeTree> {
    return this.shapes;
  }

  /** Fresh parameters as Haiku draws them: one key per weight in module order, zero biases. */
  init(key: PRNGKey): ConvParams {
    const keys = new KeySequence(key);
    const out: ConvParams = {};
    for (const [name, s] of Object.entries(this.shapes)) {
      const shape = s as Record<string, number[]>;
      if (name.startsWith('layer_norm')) out[name] = { scale: tf.ones(shape.scale!), offset: tf.zeros(shape.offset!) };
      else {
        const k = keys.next();
        out[name] = {
          w: this.weightInit && name.startsWith('conv2_d') ? this.weightInit(k, shape.w!) : fanInWeight(k, shape.w!),
          b: tf.zeros(shape.b!),
        };
      }
    }
    return out;
  }

  /** Logits `[B, numClasses]` of images `[B, H, W, C]`. */
  logits(params: ConvParams, image: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      let net = image as tf.Tensor4D;
      this.hiddenUnits.forEach((_, i) => {
        const p = params[numbered('conv2_d', i)] as unknown as LinearParams;
        net = tf.add(tf.conv2d(net, p.w as tf.Tensor4D, this.strides[i]!, 'same'), p.b) as tf.Tensor4D;
        net = this.activation(net) as tf.Tensor4D;
        if (this.useLayerNorm)
          net = layerNorm(net, params[numbered('layer_norm', i)] as unknown as LayerNormParams) as tf.Tensor4D;
      });
      const features = this.head === 'flatten' ? tf.reshape(net, [net.shape[0], -1]) : tf.mean(net, [1, 2]);
      return linear(features, params.linear as unknown as LinearParams);
    });
  }

  /** Mean softmax cross-entropy over the batch. */
  loss(params: ConvParams, _key: PRNGKey, data: Batch): tf.Scalar {
    checkParamShapes(this.name, this.shapes, params);
    checkImageBatch(this.name, data, this.imageShape);
    return tf.tidy(() =>
      meanSoftmaxCrossEntropy(
        this.logits(params, data.image),
        tf.cast(tf.oneHot(data.label, this.numClasses), 'float32'),
      ),
    ) as tf.Scalar;
  }

  /**
   * The `normalizer` option when given; else clips to `[0, 1.5 ln(numClasses)]` as the reference's conv tasks do, and also maps NaN
   * to the maximum (the reference leaves NaN as is, which poisons a meta-loss).
   */
  override normalizer(loss: tf.Tensor): tf.Tensor {
    if (this.customNormalizer) return this.customNormalizer(loss);
    return clipNormalizer(loss, 1.5 * Math.log(this.numClasses));
  }
}
