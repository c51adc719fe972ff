import {
  type DenseLayer,
  type FusedContext,
  type FusedOutput,
  kernelRegistered,
  registerFusedKernel,
  runFusedKernel,
} from '@lopt/pytree';
import type * as tf from '@tensorflow/tfjs-core';
import { featureScratch, foldNormaliser, momentaFeatures } from './fused-features.js';

/*
 * `MLPLOpt`'s update as ONE fused kernel, for updates that are not being differentiated
 * (applying a trained optimizer, ES/PES perturbations, benchmarks). The plain-op update
 * runs a 19 -> 32 -> 32 -> 2 MLP over `[N, k]` matrices with a dozen elementwise passes
 * around it; at 1M parameters its hidden activations alone are 140 MB each. Here the
 * momenta and each tensor's feature second moments are computed in one pass in
 * JavaScript, the per-tensor normaliser is folded into the first layer's weights, and the
 * MLP runs on the backend's fused matmul + bias + ReLU kernels over blocks of rows, so
 * the arithmetic is the matmuls' and memory stays a few MB above the state. The kernel
 * has no gradient: it is the kernel of the `MLPLOpt.step` op (see `mlp-lopt.ts`), which
 * runs it only while no gradient tape records. The math is the plain update's.
 */

const KERNEL = (leaves: number) => `LoptMLPLOptStep${leaves}`;

/** Rows per block of the MLP: hidden activations of a block stay in cache (2 MB at width 32). */
const BLOCK_ROWS = 16384;

/**
 * The features of one tensor's elements (gradient, parameter, momenta) into `feat`
 * (`[s, 2 + k]`), the new momenta into `m`, and each feature column's sum of squares
 * into `sumsq`.
 */
function features(
  feat: Float32Array,
  sumsq: Float64Array,
  o: number,
  g: Float32Array,
  p: Float32Array,
  mPrev: Float32Array,
  m: Float32Array,
  decays: Float32Array,
): void {
  const k = decays.length;
  const W = 2 + k;
  sumsq.fill(0);
  for (let e = 0; e < g.length; e++) {
    const gi = g[e]!;
    const pi = p[e]!;
    const f = e * W;
    feat[f] = gi;
    feat[f + 1] = pi;
    sumsq[0]! += gi * gi;
    sumsq[1]! += pi * pi;
    momentaFeatures(feat, f, m, mPrev, o + e, decays, gi);
    for (let j = 0; j < k; j++) sumsq[2 + j]! += feat[f + 2 + j]! ** 2;
  }
}

/** `features` for six decays (the default), unrolled with the sums of squares in locals. */
function features6(
  feat: Float32Array,
  sumsq: Float64Array,
  o: number,
  g: Float32Array,
  p: Float32Array,
  mPrev: Float32Array,
  m: Float32Array,
  decays: Float32Array,
): void {
  const fr = Math.fround;
  const d0 = decays[0]!,
    d1 = decays[1]!,
    d2 = decays[2]!,
    d3 = decays[3]!,
    d4 = decays[4]!,
    d5 = decays[5]!;
  const c0 = fr(1 - d0),
    c1 = fr(1 - d1),
    c2 = fr(1 - d2),
    c3 = fr(1 - d3),
    c4 = fr(1 - d4),
    c5 = fr(1 - d5);
  let sg = 0,
    sp = 0,
    s0 = 0,
    s1 = 0,
    s2 = 0,
    s3 = 0,
    s4 = 0,
    s5 = 0;
  for (let e = 0; e < g.length; e++) {
    const gi = g[e]!;
    const pi = p[e]!;
    const b = (o + e) * 6;
    const m0 = fr(fr(d0 * mPrev[b]!) + fr(c0 * gi));
    const m1 = fr(fr(d1 * mPrev[b + 1]!) + fr(c1 * gi));
    const m2 = fr(fr(d2 * mPrev[b + 2]!) + fr(c2 * gi));
    const m3 = fr(fr(d3 * mPrev[b + 3]!) + fr(c3 * gi));
    const m4 = fr(fr(d4 * mPrev[b + 4]!) + fr(c4 * gi));
    const m5 = fr(fr(d5 * mPrev[b + 5]!) + fr(c5 * gi));
    m[b] = m0;
    m[b + 1] = m1;
    m[b + 2] = m2;
    m[b + 3] = m3;
    m[b + 4] = m4;
    m[b + 5] = m5;
    const f = e * 8;
    feat[f] = gi;
    feat[f + 1] = pi;
    feat[f + 2] = m0;
    feat[f + 3] = m1;
    feat[f + 4] = m2;
    feat[f + 5] = m3;
    feat[f + 6] = m4;
    feat[f + 7] = m5;
    sg += gi * gi;
    sp += pi * pi;
    s0 += m0 * m0;
    s1 += m1 * m1;
    s2 += m2 * m2;
    s3 += m3 * m3;
    s4 += m4 * m4;
    s5 += m5 * m5;
  }
  sumsq[0] = sg;
  sumsq[1] = sp;
  sumsq[2] = s0;
  sumsq[3] = s1;
  sumsq[4] = s2;
  sumsq[5] = s3;
  sumsq[6] = s4;
  sumsq[7] = s5;
}

function body(ctx: FusedContext, attrs: tf.NamedAttrMap): FusedOutput[] {
  const L = attrs.leaves as number;
  const nLayers = attrs.layers as number;
  const expMult = attrs.expMult as number;
  const stepMult = attrs.stepMult as number;
  const decays = ctx.input('decays') as Float32Array;
  const mPrev = ctx.input('m') as Float32Array;
  const k = decays.length;
  const W = 2 + k;
  const N = mPrev.length / k;
  const layers: DenseLayer[] = [];
  for (let l = 0; l < nLayers; l++) {
    const [rows, cols] = ctx.shape(`w${l}`) as [number, number];
    // The first layer: its normalised-feature rows only; its bias carries the step embeddings' share.
    const w = ctx.input(`w${l}`) as Float32Array;
    layers.push(
      l === 0
        ? { w: { data: new Float32Array(W * cols), rows: W, cols }, b: ctx.input('shift0') as Float32Array }
        : { w: { data: w, rows, cols }, b: ctx.input(`b${l}`) as Float32Array },
    );
  }
  const w0 = ctx.input('w0') as Float32Array;
  const H0 = layers[0]!.w.cols;
  const m = new Float32Array(N * k);
  const sumsq = new Float64Array(W);
  const allCols = Array.from({ length: W }, (_, c) => c);
  const outs: FusedOutput[] = [];
  let o = 0;
  for (let t = 0; t < L; t++) {
    const p = ctx.input(`p${t}`) as Float32Array;
    const g = ctx.input(`g${t}`) as Float32Array;
    const s = g.length;
    const scratch = featureScratch(s * W);
    (k === 6 ? features6 : features)(scratch, sumsq, o, g, p, mPrev, m, decays);
    // The per-tensor normaliser rsqrt(mean(x^2) + 1e-5), folded into the first layer's weights.
    foldNormaliser(layers[0]!.w.data, w0, sumsq, s, allCols, H0);
    const out = new Float32Array(s);
    for (let r0 = 0; r0 < s; r0 += BLOCK_ROWS) {
      const rows = Math.min(BLOCK_ROWS, s - r0);
      const y = ctx.mlp({ data: scratch.subarray(r0 * W, (r0 + rows) * W), rows, cols: W }, layers).data;
      for (let e = 0; e < rows; e++) {
        out[r0 + e] = p[r0 + e]! - y[2 * e]! * Math.exp(y[2 * e + 1]! * expMult) * stepMult;
      }
    }
    outs.push({ values: out, shape: ctx.shape(`p${t}`) });
    o += s;
  }
  return [...outs, { values: m, shape: [N, k] }];
}

/** Inputs of the fused step. */
export interface FusedMLPLOptInputs {
  /** Parameter leaves, in flattening order. */
  params: tf.Tensor[];
  /** Gradient leaves, in the same order. */
  grads: tf.Tensor[];
  /** Momenta, `[N, decays]`. */
  m: tf.Tensor2D;
  /** Momentum decays, `[decays]`. */
  decays: tf.Tensor1D;
  /** The MLP's weights and biases; the first layer's leading `2 + decays` rows take the features. */
  layers: readonly { w: tf.Tensor2D; b: tf.Tensor1D }[];
  /** The first layer's bias plus the step embeddings through their weight rows, `[hidden]`. */
  shift0: tf.Tensor1D;
  /** Scale inside the exponential of the step magnitude. */
  expMult: number;
  /** Scale of the step. */
  stepMult: number;
}

/**
 * The fused update, or `undefined` when the kernel is not registered on this backend.
 * Returns `[newParamLeaves, m]`.
 */
export function fusedMLPLOptStep(x: FusedMLPLOptInputs): [tf.Tensor[], tf.Tensor2D] | undefined {
  const L = x.params.length;
  const name = KERNEL(L);
  registerFusedKernel(name, body);
  if (!kernelRegistered(name)) return undefined;
  const inputs: Record<string, tf.Tensor> = { m: x.m, decays: x.decays, shift0: x.shift0 };
  x.params.forEach((p, t) => {
    inputs[`p${t}`] = p;
    inputs[`g${t}`] = x.grads[t]!;
  });
  x.layers.forEach((l, i) => {
    inputs[`w${i}`] = l.w;
    inputs[`b${i}`] = l.b;
  });
  const outs = runFusedKernel(name, inputs, {
    leaves: L,
    layers: x.layers.length,
    expMult: x.expMult,
    stepMult: x.stepMult,
  });
  return [outs.slice(0, L), outs[L] as tf.Tensor2D];
}
