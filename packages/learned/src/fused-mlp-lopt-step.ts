import {
  type DenseLayer,
  type FusedContext,
  type FusedOutput,
  kernelRegistered,
  registerFusedKernel,
  runFusedKernel,
} from '@lopt/pytree';
import type * as tf from '@tensorflow/tfjs-core';
import { featureScratch, momentaFeatures } from './fused-features.js';
import { mlpLOptKernelAvailable, mlpLOptKernelProblem } from './mlp-lopt-kernel.js';

/*
 * `MLPLOpt`'s update as ONE fused kernel, for updates that are not being differentiated
 * (applying a trained optimizer, ES/PES perturbations, benchmarks). The plain-op update
 * runs a 19 -> 32 -> 32 -> 2 MLP over `[N, k]` matrices with a dozen elementwise passes
 * around it; at 1M parameters its hidden activations alone are 140 MB each. Here the
 * momenta and each tensor's feature second moments are computed in one pass in
 * JavaScript, normalised per tensor there (so one MLP call covers all the rows), and the
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

/**
 * The step on the compiled kernel (`mlp-lopt-kernel.ts`) for the default shape (six
 * decays, hidden layers 32 and 32), or `undefined` where it does not apply or is
 * unavailable. The state, gradients and parameters are read where the backend keeps them
 * and the outputs written there (on wasm, its heap), each copied once into and out of the
 * kernel's memory.
 */
function compiledBody(ctx: FusedContext, attrs: tf.NamedAttrMap): FusedOutput[] | undefined {
  const L = attrs.leaves as number;
  const K = (attrs.problems as number | undefined) ?? 1;
  const dims = Array.from({ length: attrs.layers as number }, (_, l) => ctx.shape(`w${l}`).slice(-2));
  const shapeOk =
    ctx.shape('decays')[0] === 6 &&
    dims.length === 3 &&
    dims[0]![1] === 32 &&
    dims[1]![0] === 32 &&
    dims[1]![1] === 32 &&
    dims[2]![0] === 32 &&
    dims[2]![1] === 2;
  if (!shapeOk || !mlpLOptKernelAvailable()) return undefined;
  // Outputs first: allocating may move the backend's heap, which the input views point into.
  const outs = Array.from({ length: L }, (_, t) => ctx.output(ctx.shape(`p${t}`)));
  const mOut = ctx.output(ctx.shape('m'));
  const small = (name: string) => ctx.input(name) as Float32Array;
  const decays = small('decays');
  const w0 = small('w0');
  const shift0 = small('shift0');
  const w1 = small('w1');
  const b1 = small('b1');
  const w2 = small('w2');
  const b2 = small('b2');
  const mPrev = ctx.inputView('m') as Float32Array;
  const ps = Array.from({ length: L }, (_, t) => ctx.inputView(`p${t}`) as Float32Array);
  const gs = Array.from({ length: L }, (_, t) => ctx.inputView(`g${t}`) as Float32Array);
  const rows0 = dims[0]![0]!;
  for (let q = 0; q < K; q++) {
    const slice = (a: Float32Array) => a.subarray((q * a.length) / K, ((q + 1) * a.length) / K);
    const done = mlpLOptKernelProblem({
      ps: ps.map(slice),
      gs: gs.map(slice),
      outs: outs.map((o) => slice(o.values)),
      mPrev: slice(mPrev),
      m: slice(mOut.values),
      decays,
      w0: w0.subarray(q * rows0 * 32, (q + 1) * rows0 * 32),
      shift0: slice(shift0),
      w1: slice(w1),
      b1: slice(b1),
      w2: slice(w2),
      b2: slice(b2),
      expMult: attrs.expMult as number,
      stepMult: attrs.stepMult as number,
    });
    if (!done) throw new Error('MLPLOpt fused step: the compiled kernel became unavailable mid-step');
  }
  return [...outs, mOut];
}

function body(ctx: FusedContext, attrs: tf.NamedAttrMap): FusedOutput[] {
  const compiled = compiledBody(ctx, attrs);
  if (compiled) return compiled;
  const L = attrs.leaves as number;
  const nLayers = attrs.layers as number;
  const expMult = attrs.expMult as number;
  const stepMult = attrs.stepMult as number;
  // K problems stacked on a leading axis (`fusedStackedMLPLOptStep`), each with its own
  // MLP; one problem without that axis (`fusedMLPLOptStep`). Problem q runs exactly the
  // single-problem arithmetic on its slices.
  const K = (attrs.problems as number | undefined) ?? 1;
  const decays = ctx.input('decays') as Float32Array;
  const mPrev = ctx.input('m') as Float32Array;
  const k = decays.length;
  const W = 2 + k;
  const N = mPrev.length / k / K;
  const shift0 = ctx.input('shift0') as Float32Array;
  const w0 = ctx.input('w0') as Float32Array;
  const ws: Float32Array[] = [];
  const bs: Float32Array[] = [];
  const dims: [number, number][] = [];
  for (let l = 0; l < nLayers; l++) {
    ws.push(ctx.input(`w${l}`) as Float32Array);
    bs.push(ctx.input(`b${l}`) as Float32Array);
    dims.push(ctx.shape(`w${l}`).slice(-2) as [number, number]);
  }
  const ps: Float32Array[] = [];
  const gs: Float32Array[] = [];
  for (let t = 0; t < L; t++) {
    ps.push(ctx.input(`p${t}`) as Float32Array);
    gs.push(ctx.input(`g${t}`) as Float32Array);
  }
  const outP = ps.map((p) => new Float32Array(p.length));
  const m = new Float32Array(N * k * K);
  const sumsq = new Float64Array(W);
  const sc = new Float32Array(W);
  const scratch = featureScratch(N * W);
  const y = new Float32Array(N * 2);
  for (let q = 0; q < K; q++) {
    const layers: DenseLayer[] = dims.map(([rows, cols], l) => {
      // The first layer: its feature rows only; its bias carries the step embeddings' share.
      const w =
        l === 0
          ? w0.subarray(q * rows * cols, (q * rows + W) * cols)
          : ws[l]!.subarray(q * rows * cols, (q + 1) * rows * cols);
      const b = l === 0 ? shift0.subarray(q * cols, (q + 1) * cols) : bs[l]!.subarray(q * cols, (q + 1) * cols);
      return { w: { data: w, rows: l === 0 ? W : rows, cols }, b };
    });
    const mPrevQ = mPrev.subarray(q * N * k, (q + 1) * N * k);
    const mQ = m.subarray(q * N * k, (q + 1) * N * k);
    // Each tensor's features, normalised by rsqrt(mean(x^2) + 1e-5) over the tensor (as
    // the plain step normalises them), so that one MLP call covers all of the problem's rows.
    let o = 0;
    for (let t = 0; t < L; t++) {
      const sz = ps[t]!.length / K;
      const feat = scratch.subarray(o * W, (o + sz) * W);
      (k === 6 ? features6 : features)(
        feat,
        sumsq,
        o,
        gs[t]!.subarray(q * sz, (q + 1) * sz),
        ps[t]!.subarray(q * sz, (q + 1) * sz),
        mPrevQ,
        mQ,
        decays,
      );
      for (let r = 0; r < W; r++) sc[r] = Math.fround(1 / Math.sqrt(sumsq[r]! / sz + 1e-5));
      for (let e = 0; e < sz; e++) for (let r = 0; r < W; r++) feat[e * W + r] = Math.fround(feat[e * W + r]! * sc[r]!);
      o += sz;
    }
    for (let r0 = 0; r0 < N; r0 += BLOCK_ROWS) {
      const rows = Math.min(BLOCK_ROWS, N - r0);
      y.set(
        ctx.mlp({ data: scratch.subarray(r0 * W, (r0 + rows) * W), rows, cols: W }, layers).data.subarray(0, rows * 2),
        r0 * 2,
      );
    }
    o = 0;
    for (let t = 0; t < L; t++) {
      const sz = ps[t]!.length / K;
      const p = ps[t]!.subarray(q * sz, (q + 1) * sz);
      const out = outP[t]!.subarray(q * sz, (q + 1) * sz);
      for (let e = 0; e < sz; e++) {
        const i = 2 * (o + e);
        out[e] = p[e]! - y[i]! * Math.exp(y[i + 1]! * expMult) * stepMult;
      }
      o += sz;
    }
  }
  return [...outP.map((values, t) => ({ values, shape: ctx.shape(`p${t}`) })), { values: m, shape: ctx.shape('m') }];
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
  return runStep(x) as [tf.Tensor[], tf.Tensor2D] | undefined;
}

/** Runs the kernel on single-problem inputs, or (`problems`) on K problems stacked. */
function runStep(
  x: FusedMLPLOptInputs | FusedStackedMLPLOptInputs,
  problems?: number,
): [tf.Tensor[], tf.Tensor] | undefined {
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
  const attrs = { leaves: L, layers: x.layers.length, expMult: x.expMult, stepMult: x.stepMult };
  const outs = runFusedKernel(name, inputs, problems === undefined ? attrs : { ...attrs, problems });
  return [outs.slice(0, L), outs[L]!];
}

/** Inputs of the fused step of K problems: `FusedMLPLOptInputs` stacked on a leading axis. */
export interface FusedStackedMLPLOptInputs {
  /** Parameter leaves `[K, ...]`, in flattening order. */
  params: tf.Tensor[];
  /** Gradient leaves `[K, ...]`, in the same order. */
  grads: tf.Tensor[];
  /** Momenta, `[K, N, decays]`. */
  m: tf.Tensor3D;
  /** Momentum decays, `[decays]` (shared). */
  decays: tf.Tensor1D;
  /** Each problem's MLP: weights `[K, fanIn, fanOut]`, biases `[K, fanOut]`. */
  layers: readonly { w: tf.Tensor3D; b: tf.Tensor2D }[];
  /** Each problem's first-layer bias plus its step embeddings' share, `[K, hidden]`. */
  shift0: tf.Tensor2D;
  /** Scale inside the exponential of the step magnitude. */
  expMult: number;
  /** Scale of the step. */
  stepMult: number;
}

/**
 * The fused update of K problems in one kernel call (each problem's arithmetic is the
 * single-problem kernel's), or `undefined` when the kernel is not registered on this
 * backend. Returns `[newParamLeaves, m]`, stacked.
 */
export function fusedStackedMLPLOptStep(x: FusedStackedMLPLOptInputs): [tf.Tensor[], tf.Tensor3D] | undefined {
  return runStep(x, x.m.shape[0]) as [tf.Tensor[], tf.Tensor3D] | undefined;
}
