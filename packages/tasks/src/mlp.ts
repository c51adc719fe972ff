import type { PRNGKey } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { Activation } from './activations.js';
import type { ShapeTree } from './check.js';
import { fanInWeight, KeySequence } from './init.js';

/** The parameters of one linear layer, as Haiku names them: `w` `[in, out]`, `b` `[out]`. */
export interface LinearParams {
  /** The weight matrix `[in, out]` (`[K, in, out]` when stacked). */
  w: tf.Tensor;
  /** The bias `[out]` (`[K, out]` when stacked). */
  b: tf.Tensor;
}

/** The parameters of a LayerNorm, as Haiku names them: `scale` and `offset`, `[features]`. */
export interface LayerNormParams {
  /** Multiplies the normalised features (initialised to ones). */
  scale: tf.Tensor;
  /** Added after scaling (initialised to zeros). */
  offset: tf.Tensor;
}

/** One module's parameters by name (`w`, `b`; `scale`, `offset`), as Haiku names them. */
export type ModuleParams = { [param: string]: tf.Tensor };

/**
 * MLP (and conv net) parameters: module name (`'mlp/~/linear_0'`, ...) to that module's
 * parameters, e.g. `{ 'mlp/~/linear_0': { w, b }, 'mlp/~/linear_1': { w, b } }`.
 */
export type MLPParams = Record<string, ModuleParams>;

/** Draws a Haiku weight for `fanIn -> fanOut` (truncated normal, std 1/sqrt(fanIn)) and a zero bias. */
export function initLinear(keys: KeySequence, fanIn: number, fanOut: number): LinearParams {
  return { w: fanInWeight(keys.next(), [fanIn, fanOut]), b: tf.zeros([fanOut]) };
}

/**
 * A bias to add to `[..., B, out]` activations: `[out]` as is, stacked `[K, out]` as
 * `[K, 1, out]` so that member k's bias meets member k's rows.
 */
function bias(b: tf.Tensor): tf.Tensor {
  return b.rank === 1 ? b : tf.reshape(b, [b.shape[0]!, 1, b.shape[1]!]);
}

/**
 * `x @ w + b` for one parameter set (`w` `[in, out]`) or K stacked ones (`w` `[K, in, out]`);
 * `x` is `[B, in]` (shared by all members) or `[K, B, in]`. One matmul and one add.
 */
export function linear(x: tf.Tensor, p: LinearParams): tf.Tensor {
  return tf.add(tf.matMul(x, p.w), bias(p.b));
}

/** Haiku's LayerNorm over the last axis (eps 1e-5), single or stacked parameters. */
export function layerNorm(x: tf.Tensor, p: LayerNormParams): tf.Tensor {
  const mean = tf.mean(x, -1, true);
  const centred = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centred), -1, true);
  return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, 1e-5))), bias(p.scale)), bias(p.offset));
}

/** The architecture of an MLP: layer sizes, activation, optional LayerNorm, module names. */
export interface MLPSpec {
  /** Input features (flattened image size). */
  inputSize: number;
  /** Output sizes of every layer, the last being the number of classes. */
  sizes: readonly number[];
  /** Applied after every layer but the last. */
  activation: Activation;
  /**
   * `false`: Haiku's `hk.nets.MLP` (modules `mlp/~/linear_i`). `true`: the reference's
   * LayerNorm MLP (modules `linear`, `linear_1`, ..., each hidden one followed by
   * `layer_norm`, `layer_norm_1`, ... before the activation).
   */
  layerNorm: boolean;
}

/** Haiku's module naming: `base`, `base_1`, `base_2`, ... */
const numbered = (base: string, i: number) => (i === 0 ? base : `${base}_${i}`);

/** The name of the i-th linear module of an MLP of `spec`. */
export function linearName(spec: MLPSpec, i: number): string {
  return spec.layerNorm ? numbered('linear', i) : `mlp/~/linear_${i}`;
}

/** The parameter shapes of an MLP of `spec` (without any stacking axis). */
export function mlpParamShapes(spec: MLPSpec): Record<string, ShapeTree> {
  const out: Record<string, ShapeTree> = {};
  let fanIn = spec.inputSize;
  spec.sizes.forEach((h, i) => {
    out[linearName(spec, i)] = { w: [fanIn, h], b: [h] };
    if (spec.layerNorm && i < spec.sizes.length - 1) out[numbered('layer_norm', i)] = { scale: [h], offset: [h] };
    fanIn = h;
  });
  return out;
}

/**
 * Fresh MLP parameters from `key`, as Haiku draws them: one key per weight from a
 * `KeySequence`, in layer order; zero biases, unit LayerNorm scales, zero offsets.
 * `weightInit` replaces Haiku's default weight initialiser.
 */
export function initMLP(
  spec: MLPSpec,
  key: PRNGKey,
  weightInit: (key: PRNGKey, shape: readonly number[]) => tf.Tensor = fanInWeight,
): MLPParams {
  const keys = new KeySequence(key);
  const out: MLPParams = {};
  let fanIn = spec.inputSize;
  spec.sizes.forEach((h, i) => {
    out[linearName(spec, i)] = { w: weightInit(keys.next(), [fanIn, h]), b: tf.zeros([h]) };
    if (spec.layerNorm && i < spec.sizes.length - 1) {
      out[numbered('layer_norm', i)] = { scale: tf.ones([h]), offset: tf.zeros([h]) };
    }
    fanIn = h;
  });
  return out;
}

/**
 * The MLP's logits for flattened inputs `x` (`[B, in]`, or `[K, B, in]` per member) and
 * parameters single (`[in, out]` weights) or stacked (`[K, in, out]`): `[B, C]` or
 * `[K, B, C]`. Single and batched evaluation run this same code; only the shapes differ.
 */
export function mlpForward(spec: MLPSpec, params: MLPParams, x: tf.Tensor): tf.Tensor {
  let h = x;
  const last = spec.sizes.length - 1;
  for (let i = 0; i <= last; i++) {
    h = linear(h, params[linearName(spec, i)] as unknown as LinearParams);
    if (i < last) {
      if (spec.layerNorm) h = layerNorm(h, params[numbered('layer_norm', i)] as unknown as LayerNormParams);
      h = spec.activation(h);
    }
  }
  return h;
}
