import {
  type FusedContext,
  type FusedHeap,
  type FusedOutput,
  kernelRegistered,
  registerFusedKernel,
  runFusedKernel,
  stackedFusedBody,
} from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { type AdafacKernel, adafacKernel, adafacKernelOn, countAdafacKernelTensor } from './adafac-kernel.js';
import { type FactoredLayout, factoredDims, factoredLayout } from './factored-layout.js';
import { ema, featureScratch, foldNormaliser, momentaFeatures } from './fused-features.js';

/*
 * `AdafacMLPLOpt`'s update as ONE fused kernel, for updates that are not being
 * differentiated (applying a trained optimizer, ES/PES perturbations, benchmarks). The
 * plain-op update is ~30 tfjs ops per tensor over `[size, k]` matrices, each a pass over
 * memory with its own bookkeeping; here every element is visited twice in JavaScript:
 * once to build its features (and the per-tensor second moments of the features), once to
 * run the MLP on them, with the per-tensor normaliser folded into the first layer's
 * weights. The kernel has no gradient: it is the kernel of the `AdafacMLPLOpt.step` op
 * (see `adafac-mlp-lopt.ts`), which runs it only while no gradient tape records; under
 * `grad`/`valueAndGrad` the plain, differentiable ops run. The math is exactly the plain
 * update's (see `AdafacMLPLOpt`).
 */

const KERNEL = (leaves: number) => `LoptAdafacMLPLOptStep${leaves}`;

interface LayoutExtras {
  layout: FactoredLayout;
  rowCount: Float64Array;
  colCount: Float64Array;
  groupCount: Float64Array;
}
const layouts = new Map<string, LayoutExtras>();

function layoutFor(shapes: number[][]): LayoutExtras {
  const key = JSON.stringify(shapes);
  let e = layouts.get(key);
  if (!e) {
    const layout = factoredLayout(shapes);
    const rowCount = new Float64Array(layout.numRows + layout.numDiag);
    const colCount = new Float64Array(layout.numCols + layout.numDiag);
    const groupCount = new Float64Array(layout.numRowGroups);
    for (let i = 0; i < layout.rowIds.length; i++) {
      rowCount[layout.rowIds[i]!]! += 1;
      colCount[layout.colIds[i]!]! += 1;
    }
    for (let r = 0; r < layout.numRows; r++) groupCount[layout.rowGroupIds[r]!]! += 1;
    e = { layout, rowCount, colCount, groupCount };
    layouts.set(key, e);
  }
  return e;
}

/**
 * The element columns of a factored tensor with three momentum and three Adafactor decays
 * (the default), unrolled with the sums of squares in locals; as the generic loop.
 */
function factoredFeatures3(
  feat: Float32Array,
  sumsq: Float64Array,
  o: number,
  s: number,
  g: Float32Array,
  p: Float32Array,
  mPrev: Float32Array,
  rmsPrev: Float32Array,
  md: Float32Array,
  rd: number,
  m: Float32Array,
  rms: Float32Array,
  rowIds: Int32Array,
  colIds: Int32Array,
  rowFactor: Float32Array,
  colFactor: Float32Array,
): void {
  const d0 = md[0]!;
  const d1 = md[1]!;
  const d2 = md[2]!;
  let s0 = 0,
    s1 = 0,
    s2 = 0,
    s3 = 0,
    s4 = 0,
    s5 = 0,
    s6 = 0,
    s7 = 0,
    s8 = 0,
    s9 = 0,
    s10 = 0,
    s11 = 0,
    s12 = 0,
    s13 = 0,
    s14 = 0,
    s15 = 0;
  for (let e = 0; e < s; e++) {
    const i = o + e;
    const f = e * 16;
    const gi = g[e]!;
    const pi = p[e]!;
    const rv = ema(rd, rmsPrev[i]!, Math.fround(gi * gi));
    rms[i] = rv;
    const rr = 1 / Math.sqrt(rv + 1e-6);
    const m0 = ema(d0, mPrev[3 * i]!, gi);
    const m1 = ema(d1, mPrev[3 * i + 1]!, gi);
    const m2 = ema(d2, mPrev[3 * i + 2]!, gi);
    m[3 * i] = m0;
    m[3 * i + 1] = m1;
    m[3 * i + 2] = m2;
    const r = rowIds[i]! * 3;
    const c = colIds[i]! * 3;
    const q0 = rowFactor[r]! * colFactor[c]!;
    const q1 = rowFactor[r + 1]! * colFactor[c + 1]!;
    const q2 = rowFactor[r + 2]! * colFactor[c + 2]!;
    const x3 = m0 * rr,
      x4 = m1 * rr,
      x5 = m2 * rr;
    const g0 = gi * q0,
      g1 = gi * q1,
      g2 = gi * q2;
    const f0 = m0 * q0,
      f1 = m1 * q1,
      f2 = m2 * q2;
    feat[f] = gi;
    feat[f + 1] = pi;
    feat[f + 2] = m0;
    feat[f + 3] = m1;
    feat[f + 4] = m2;
    feat[f + 5] = rv;
    feat[f + 6] = x3;
    feat[f + 7] = x4;
    feat[f + 8] = x5;
    feat[f + 9] = rr;
    feat[f + 10] = g0;
    feat[f + 11] = g1;
    feat[f + 12] = g2;
    feat[f + 13] = f0;
    feat[f + 14] = f1;
    feat[f + 15] = f2;
    s0 += gi * gi;
    s1 += pi * pi;
    s2 += m0 * m0;
    s3 += m1 * m1;
    s4 += m2 * m2;
    s5 += rv * rv;
    s6 += x3 * x3;
    s7 += x4 * x4;
    s8 += x5 * x5;
    s9 += rr * rr;
    s10 += g0 * g0;
    s11 += g1 * g1;
    s12 += g2 * g2;
    s13 += f0 * f0;
    s14 += f1 * f1;
    s15 += f2 * f2;
  }
  const all = [s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15];
  for (let k = 0; k < 16; k++) sumsq[k] = all[k]!;
}

/**
 * The features of an unfactored tensor (rank < 2: full Adafactor accumulators) with three
 * momentum and three Adafactor decays (the default), the sums of squares in a local
 * array; as the generic loop.
 */
function diagFeatures3(
  feat: Float32Array,
  sumsq: Float64Array,
  o: number,
  s: number,
  g: Float32Array,
  p: Float32Array,
  mPrev: Float32Array,
  rmsPrev: Float32Array,
  md: Float32Array,
  rd: number,
  fd: Float32Array,
  m: Float32Array,
  rms: Float32Array,
  vDiagPrev: Float32Array,
  vDiag: Float32Array,
  d0: number,
): void {
  const fr = Math.fround;
  for (let e = 0; e < s; e++) {
    const i = o + e;
    const gi = g[e]!;
    const f = e * 28;
    const rv = ema(rd, rmsPrev[i]!, fr(gi * gi));
    rms[i] = rv;
    const rr = 1 / Math.sqrt(rv + 1e-6);
    feat[f] = gi;
    feat[f + 1] = p[e]!;
    feat[f + 5] = rv;
    feat[f + 9] = rr;
    const gs = fr(fr(gi * gi) + 1e-30);
    const d = (d0 + e) * 3;
    for (let j = 0; j < 3; j++) {
      const mv = ema(md[j]!, mPrev[i * 3 + j]!, gi);
      m[i * 3 + j] = mv;
      feat[f + 2 + j] = mv;
      feat[f + 6 + j] = mv * rr;
      const v = ema(fd[j]!, vDiagPrev[d + j]!, gs);
      vDiag[d + j] = v;
      const vr = 1 / Math.sqrt(v + 1e-8);
      feat[f + 10 + j] = gi / Math.sqrt(Math.max(v + 1e-9, 1e-9));
      feat[f + 13 + j] = v;
      feat[f + 16 + j] = v;
      feat[f + 19 + j] = vr;
      feat[f + 22 + j] = vr;
      feat[f + 25 + j] = mv / Math.sqrt(v + 1e-6);
    }
  }
  // Column sums of squares in a second, cache-friendly pass over the rows just written.
  for (let k = 0; k < 28; k++) sumsq[k] = 0;
  for (let e = 0; e < s; e++) {
    const f = e * 28;
    for (let k = 0; k < 28; k++) {
      const x = feat[f + k]!;
      sumsq[k]! += x * x;
    }
  }
}

/** The row range `[r0, r1)` and column range `[c0, c1)` of a factored tensor whose first element sits in row r0, column c0. */
function rowColRange(shape: readonly number[], r0: number, c0: number): [number, number, number, number] {
  const [d1, d0] = factoredDims(shape)!;
  const size = shape.reduce((a, b) => a * b, 1);
  return [r0, r0 + size / shape[d0]!, c0, c0 + size / shape[d1]!];
}

/**
 * The per-element tail of the MLP with hidden sizes 4, 4 and two outputs (the default),
 * unrolled: first-layer sum plus shift (and row / column shares of a factored tensor),
 * ReLU, 4 x 4, ReLU, 4 x 2, and the step. A function of its own so the JIT optimises
 * this hot loop apart from the kernel's long body.
 */
function defaultMlpRows(
  out: Float32Array,
  h0: Float32Array,
  shift0: Float32Array,
  rowC: Float64Array,
  colC: Float64Array,
  rowIds: Int32Array,
  colIds: Int32Array,
  o: number,
  r0: number,
  c0: number,
  fac: boolean,
  p: Float32Array,
  w1: Float32Array,
  b1: Float32Array,
  w2: Float32Array,
  b2: Float32Array,
  expMult: number,
  stepMult: number,
): void {
  for (let e = 0; e < out.length; e++) {
    const i = o + e;
    let ro = -1;
    let co = -1;
    if (fac) {
      ro = (rowIds[i]! - r0) * 4;
      co = (colIds[i]! - c0) * 4;
    }
    // Hidden sizes 4, 4 and two outputs (the default), unrolled.
    let x0 = h0[e * 4]! + shift0[0]!;
    let x1 = h0[e * 4 + 1]! + shift0[1]!;
    let x2 = h0[e * 4 + 2]! + shift0[2]!;
    let x3 = h0[e * 4 + 3]! + shift0[3]!;
    if (ro >= 0) {
      x0 += rowC[ro]! + colC[co]!;
      x1 += rowC[ro + 1]! + colC[co + 1]!;
      x2 += rowC[ro + 2]! + colC[co + 2]!;
      x3 += rowC[ro + 3]! + colC[co + 3]!;
    }
    x0 = Math.max(x0, 0);
    x1 = Math.max(x1, 0);
    x2 = Math.max(x2, 0);
    x3 = Math.max(x3, 0);
    let y0 = b1[0]! + x0 * w1[0]! + x1 * w1[4]! + x2 * w1[8]! + x3 * w1[12]!;
    let y1 = b1[1]! + x0 * w1[1]! + x1 * w1[5]! + x2 * w1[9]! + x3 * w1[13]!;
    let y2 = b1[2]! + x0 * w1[2]! + x1 * w1[6]! + x2 * w1[10]! + x3 * w1[14]!;
    let y3 = b1[3]! + x0 * w1[3]! + x1 * w1[7]! + x2 * w1[11]! + x3 * w1[15]!;
    y0 = Math.max(y0, 0);
    y1 = Math.max(y1, 0);
    y2 = Math.max(y2, 0);
    y3 = Math.max(y3, 0);
    const dir = b2[0]! + y0 * w2[0]! + y1 * w2[2]! + y2 * w2[4]! + y3 * w2[6]!;
    const mag = b2[1]! + y0 * w2[1]! + y1 * w2[3]! + y2 * w2[5]! + y3 * w2[7]!;
    out[e] = p[e]! - dir * Math.exp(mag * expMult) * stepMult;
  }
}

/**
 * The compiled kernel's memory for one step: the whole state (previous and new), each
 * tensor's gradient, parameters and new parameters (`g`, `p`, `out`: byte offsets per
 * tensor), the row / column preconditioners, and per-tensor buffers sized for the largest
 * tensor. Byte offsets, 16-aligned where the plan allocates them; `f32` / `f64` view the
 * memory after any growth. On the kernel's own memory the step copies inputs in and
 * outputs out; on the wasm backend's (`outputs` set) the kernel reads the input tensors
 * where they are and writes the output tensors in place.
 */
interface WasmPlan {
  k: AdafacKernel;
  f32: Float32Array;
  f64: Float64Array;
  mPrev: number;
  m: number;
  rmsPrev: number;
  rms: number;
  vPrev: number;
  v: number;
  rowFactor: number;
  colFactor: number;
  rowSum: number;
  colSum: number;
  g: number[];
  p: number[];
  out: number[];
  rowC: number;
  colC: number;
  wm: number;
  net: number;
  shift: number;
  decays: number;
  sumsq: number;
  splat: number;
  /** On the backend's memory: the outputs (new parameters per tensor, then m, rms, vDiag). */
  outputs?: FusedOutput[];
}

/** Scratch of a plan (floats): preconditioners, row / column sums, shares, weights, sums. */
function scratchLayout(R: number, C: number, maxRC: number) {
  return {
    rowFactor: R * 3,
    colFactor: C * 3,
    rowSum: 2 * R,
    colSum: 2 * C,
    rowC: maxRC * 4,
    colC: maxRC * 4,
    wm: 28 * 4,
    net: 40,
    shift: 4,
    decays: 8,
    sumsq: 112,
    splat: 120 * 4,
  };
}

function carve(at: number, floats: Record<string, number>): { at: number; offsets: Record<string, number> } {
  const offsets: Record<string, number> = {};
  for (const [name, n] of Object.entries(floats)) {
    offsets[name] = at;
    at += (n * 4 + 15) & ~15;
  }
  return { at, offsets };
}

function wasmPlan(
  k: AdafacKernel,
  sizes: number[],
  N: number,
  R: number,
  C: number,
  D: number,
  maxRC: number,
): WasmPlan {
  const { at, offsets } = carve((Math.max(k.heapBase(), 16) + 15) & ~15, {
    mPrev: N * 3,
    m: N * 3,
    rmsPrev: N,
    rms: N,
    vPrev: D * 3,
    v: D * 3,
    out: N,
    g: N,
    p: N,
    ...scratchLayout(R, C, maxRC),
  });
  const need = at - k.memory.buffer.byteLength;
  if (need > 0) k.memory.grow(Math.ceil(need / 65536));
  const o = offsets as Record<string, number>;
  const f64 = new Float64Array(k.memory.buffer);
  f64.fill(0, o.rowSum! >> 3, (o.rowSum! >> 3) + R);
  f64.fill(0, o.colSum! >> 3, (o.colSum! >> 3) + C);
  const g: number[] = [];
  const out: number[] = [];
  let e = 0;
  for (const s of sizes) {
    g.push(o.g! + e * 4);
    out.push(o.out! + e * 4);
    e += s;
  }
  return {
    k,
    f32: new Float32Array(k.memory.buffer),
    f64,
    mPrev: o.mPrev!,
    m: o.m!,
    rmsPrev: o.rmsPrev!,
    rms: o.rms!,
    vPrev: o.vPrev!,
    v: o.v!,
    rowFactor: o.rowFactor!,
    colFactor: o.colFactor!,
    rowSum: o.rowSum!,
    colSum: o.colSum!,
    g,
    p: sizes.map(() => o.p!),
    out,
    rowC: o.rowC!,
    colC: o.colC!,
    wm: o.wm!,
    net: o.net!,
    shift: o.shift!,
    decays: o.decays!,
    sumsq: o.sumsq!,
    splat: o.splat!,
  };
}

/** The plan on the wasm backend's memory: outputs allocated there, inputs read in place. */
function heapPlan(
  k: AdafacKernel,
  heap: FusedHeap,
  shapes: number[][],
  N: number,
  R: number,
  C: number,
  D: number,
  maxRC: number,
): WasmPlan {
  // Every allocation first: one may grow the memory, which detaches earlier views.
  const leafOuts = shapes.map((shape) => heap.output(shape));
  const mOut = heap.output([N, 3]);
  const rmsOut = heap.output([N, 1]);
  const vOut = heap.output([D, 3]);
  const floats = scratchLayout(R, C, maxRC);
  const bytes = carve(0, floats).at;
  const { offsets: o } = carve(heap.scratch(bytes), floats);
  const f64 = new Float64Array(heap.memory.buffer);
  f64.fill(0, o.rowSum! >> 3, (o.rowSum! >> 3) + R);
  f64.fill(0, o.colSum! >> 3, (o.colSum! >> 3) + C);
  return {
    k,
    f32: new Float32Array(heap.memory.buffer),
    f64,
    mPrev: heap.offset('m'),
    m: mOut.offset,
    rmsPrev: heap.offset('rms'),
    rms: rmsOut.offset,
    vPrev: heap.offset('vDiag'),
    v: vOut.offset,
    rowFactor: o.rowFactor!,
    colFactor: o.colFactor!,
    rowSum: o.rowSum!,
    colSum: o.colSum!,
    g: shapes.map((_, t) => heap.offset(`g${t}`)),
    p: shapes.map((_, t) => heap.offset(`p${t}`)),
    out: leafOuts.map((x) => x.offset),
    rowC: o.rowC!,
    colC: o.colC!,
    wm: o.wm!,
    net: o.net!,
    shift: o.shift!,
    decays: o.decays!,
    sumsq: o.sumsq!,
    splat: o.splat!,
    outputs: [...leafOuts.map((x) => x.output), mOut.output, rmsOut.output, vOut.output],
  };
}

type Grid = [number, number, number, number, number, number];

/**
 * A rank-2 tensor's element grid for the compiled kernel: `[a, b, ri, rj, ci, cj]`, element
 * `(i, j)` in local row `i * ri + j * rj` and column `i * ci + j * cj`: row i and column j
 * when b is the larger (factored) dim, else row j and column i (see `factoredLayout`).
 * `undefined` for other ranks.
 */
function gridOf(shape: number[]): Grid | undefined {
  if (shape.length !== 2) return undefined;
  const [a, b] = shape as [number, number];
  return factoredDims(shape)![1] === 1 ? [a, b, 1, 0, 0, 1] : [a, b, 0, 1, 1, 0];
}

function body(ctx: FusedContext, attrs: tf.NamedAttrMap): FusedOutput[] {
  const L = attrs.leaves as number;
  const nLayers = attrs.layers as number;
  const expMult = attrs.expMult as number;
  const stepMult = attrs.stepMult as number;
  const shapes: number[][] = [];
  for (let t = 0; t < L; t++) shapes.push(ctx.shape(`p${t}`));
  const { layout, rowCount, colCount, groupCount } = layoutFor(shapes);
  const { rowIds, colIds, rowGroupIds, isFactored, numRows: R, numCols: C, numDiag: D } = layout;
  const md = ctx.input('momDecay') as Float32Array;
  const rd = ctx.input('rmsDecay')[0]!;
  const fd = ctx.input('facDecay') as Float32Array;
  const M = md.length;
  const A = fd.length;
  const vRowPrev = ctx.input('vRow') as Float32Array;
  const vColPrev = ctx.input('vCol') as Float32Array;
  const N = ctx.shape('rms')[0]!;
  const sizes = shapes.map((shape) => shape.reduce((a, b) => a * b, 1));

  // Hidden sizes 4, 4 and two outputs (the default): the unrolled loops and the compiled kernel.
  const fast = nLayers === 3 && ctx.shape('w0')[1] === 4 && ctx.shape('w1')[1] === 4 && ctx.shape('w2')[1] === 2;
  // The compiled kernel takes rank-2 factored and unfactored tensors of the default
  // optimizer; other tensors (rank > 2) keep the JavaScript loops, on the same state arrays.
  const kernel = fast && M === 3 && A === 3 ? adafacKernel() : undefined;
  let wp: WasmPlan | undefined;
  if (kernel) {
    let maxRC = 0;
    for (const shape of shapes) if (shape.length === 2) maxRC = Math.max(maxRC, shape[0]!, shape[1]!);
    // On the wasm backend, in its memory when the kernel takes every tensor (a factored
    // tensor of rank > 2 keeps the JavaScript loops, which read the state as arrays).
    let first = 0;
    const allInKernel = shapes.every((shape, t) => {
      const ok = shape.length <= 2 || sizes[t] === 0 || !isFactored[first];
      first += sizes[t]!;
      return ok;
    });
    const onHeap = ctx.heap && allInKernel ? adafacKernelOn(ctx.heap.memory) : undefined;
    try {
      wp =
        onHeap && ctx.heap
          ? heapPlan(onHeap, ctx.heap, shapes, N, R, C, D, maxRC)
          : wasmPlan(kernel, sizes, N, R, C, D, maxRC);
    } catch (e) {
      // Past what the kernel's 32-bit memory can grow to (tens of millions of parameters):
      // the JavaScript loops, which hold their arrays in JavaScript's own memory.
      if (!(e instanceof RangeError)) throw e;
    }
  }
  const grids = shapes.map(gridOf);
  const onHeap = wp?.outputs !== undefined;
  // The state as arrays: unread on the backend's memory, where the kernel reads it in place.
  const none = new Float32Array(0);
  const mPrev = onHeap ? none : (ctx.input('m') as Float32Array);
  const rmsPrev = onHeap ? none : (ctx.input('rms') as Float32Array);
  const vDiagPrev = onHeap ? none : (ctx.input('vDiag') as Float32Array);
  const leafInput = (name: string) => (onHeap ? none : (ctx.input(name) as Float32Array));

  // Row / column sums of g^2 + 1e-30 over factored tensors.
  const rowSum = wp ? wp.f64.subarray(wp.rowSum >> 3, (wp.rowSum >> 3) + R) : new Float64Array(R);
  const colSum = wp ? wp.f64.subarray(wp.colSum >> 3, (wp.colSum >> 3) + C) : new Float64Array(C);
  let o = 0;
  for (let t = 0; t < L; t++) {
    const g = leafInput(`g${t}`);
    if (wp) {
      if (!onHeap) wp.f32.set(g, wp.g[t]! >> 2);
      const grid = grids[t];
      if (grid && sizes[t]! > 0) {
        // Four elements at a time along the inner index, whose slot varies (see factoredPass2x4).
        const rowsOuter = grid[2] === 1;
        const rs = wp.rowSum + rowIds[o]! * 8;
        const cs = wp.colSum + colIds[o]! * 8;
        wp.k.factoredSumsX4(grid[0], grid[1], wp.g[t]!, rowsOuter ? rs : cs, rowsOuter ? cs : rs);
        o += sizes[t]!;
        continue;
      }
    }
    for (let e = 0; e < g.length; e++) {
      if (!isFactored[o + e]) continue;
      const gs = g[e]! * g[e]! + 1e-30;
      rowSum[rowIds[o + e]!]! += gs;
      colSum[colIds[o + e]!]! += gs;
    }
    o += sizes[t]!;
  }
  const vRow = new Float32Array(R * A);
  const vCol = new Float32Array(C * A);
  for (let r = 0; r < R; r++) {
    const mean = rowSum[r]! / rowCount[r]!;
    for (let j = 0; j < A; j++) vRow[r * A + j] = ema(fd[j]!, vRowPrev[r * A + j]!, mean);
  }
  for (let c = 0; c < C; c++) {
    const mean = colSum[c]! / colCount[c]!;
    for (let j = 0; j < A; j++) vCol[c * A + j] = ema(fd[j]!, vColPrev[c * A + j]!, mean);
  }
  // Preconditioners per row / column, and the rsqrt features of the accumulators.
  const groupSum = new Float64Array(layout.numRowGroups * A);
  for (let r = 0; r < R; r++) for (let j = 0; j < A; j++) groupSum[rowGroupIds[r]! * A + j]! += vRow[r * A + j]!;
  const rowFactor = new Float32Array(R * A);
  const rowR = new Float32Array(R * A);
  for (let r = 0; r < R; r++) {
    const gi = rowGroupIds[r]!;
    for (let j = 0; j < A; j++) {
      const v = vRow[r * A + j]!;
      const gm = groupSum[gi * A + j]! / groupCount[gi]!;
      rowFactor[r * A + j] = 1 / Math.sqrt(Math.max(v / (gm + 1e-9), 1e-9));
      rowR[r * A + j] = 1 / Math.sqrt(v + 1e-8);
    }
  }
  const colFactor = new Float32Array(C * A);
  const colR = new Float32Array(C * A);
  for (let c = 0; c < C; c++) {
    for (let j = 0; j < A; j++) {
      const v = vCol[c * A + j]!;
      colFactor[c * A + j] = 1 / Math.sqrt(Math.max(v, 1e-9));
      colR[c * A + j] = 1 / Math.sqrt(v + 1e-8);
    }
  }

  // The MLP: weights, and the first layer's shift (bias + step embeddings' share).
  const ws: Float32Array[] = [];
  const bs: Float32Array[] = [];
  const widths: number[] = [];
  for (let l = 0; l < nLayers; l++) {
    ws.push(ctx.input(`w${l}`) as Float32Array);
    bs.push(ctx.input(`b${l}`) as Float32Array);
    widths.push(ctx.shape(`w${l}`)[1]!);
  }
  const shift0 = ctx.input('shift0') as Float32Array;
  const H0 = widths[0]!;
  const maxW = Math.max(...widths);
  const F = 4 + 2 * M + 6 * A;

  let m: Float32Array;
  let rms: Float32Array;
  let vDiag: Float32Array;
  if (wp) {
    const f = wp.f32;
    if (!onHeap) {
      f.set(mPrev, wp.mPrev >> 2);
      f.set(rmsPrev, wp.rmsPrev >> 2);
      f.set(vDiagPrev, wp.vPrev >> 2);
    }
    f.set(rowFactor, wp.rowFactor >> 2);
    f.set(colFactor, wp.colFactor >> 2);
    f.set([md[0]!, md[1]!, md[2]!, rd, fd[0]!, fd[1]!, fd[2]!], wp.decays >> 2);
    const w1 = ws[1]!;
    const w2 = ws[2]!;
    const b2 = bs[2]!;
    f.set(w1.subarray(0, 16), wp.net >> 2);
    f.set(bs[1]!.subarray(0, 4), (wp.net >> 2) + 16);
    for (let r = 0; r < 4; r++) f.set([w2[2 * r]!, w2[2 * r + 1]!, 0, 0], (wp.net >> 2) + 20 + 4 * r);
    f.set([b2[0]!, b2[1]!, 0, 0], (wp.net >> 2) + 36);
    f.set(shift0.subarray(0, 4), wp.shift >> 2);
    m = f.subarray(wp.m >> 2, (wp.m >> 2) + N * M);
    rms = f.subarray(wp.rms >> 2, (wp.rms >> 2) + N);
    vDiag = f.subarray(wp.v >> 2, (wp.v >> 2) + D * A);
  } else {
    m = new Float32Array(N * M);
    rms = new Float32Array(N);
    vDiag = new Float32Array(D * A);
  }
  const outs: FusedOutput[] = [];
  // Feature columns, numbered as the first layer's weight rows: g, p, momenta (M), rms,
  // momenta * rsqrt(rms) (M), rsqrt(rms), then from B: facG, row, column, rsqrt(row),
  // rsqrt(column), facMom (A each). Elements of a factored tensor share their row and
  // column features with their row / column, so those go through the first layer once
  // per row and column; the element's own matrix holds the other columns (`facCols`).
  const B = 4 + 2 * M;
  const facCols: number[] = [];
  for (let k = 0; k < B + A; k++) facCols.push(k);
  for (let j = 0; j < A; j++) facCols.push(B + 5 * A + j);
  const allCols = Array.from({ length: F }, (_, k) => k);
  const sumsq = new Float64Array(F);
  const sc = new Float64Array(F);
  const w0 = ws[0]!;
  const h = new Float64Array(maxW);
  const h2 = new Float64Array(maxW);
  o = 0;
  for (let t = 0; t < L; t++) {
    const p = leafInput(`p${t}`);
    const g = leafInput(`g${t}`);
    const s = sizes[t]!;
    const fac = s > 0 && isFactored[o] === 1;
    const cols = fac ? facCols : allCols;
    const W = cols.length;
    sumsq.fill(0);
    // The compiled kernel: rank-2 factored and unfactored tensors.
    const grid = grids[t];
    const inWasm = wp !== undefined && s > 0 && (fac ? grid !== undefined : true);
    // The JavaScript loops' feature matrix (tens of MB at a million parameters): not for the kernel's tensors.
    const feat = inWasm ? none : featureScratch(s * W);
    if (wp && inWasm) {
      if (!onHeap) wp.f32.set(p, wp.p[t]! >> 2);
      if (grid) {
        const rowsOuter = grid[2] === 1;
        const rf = wp.rowFactor + rowIds[o]! * 12;
        const cf = wp.colFactor + colIds[o]! * 12;
        wp.f64.fill(0, wp.sumsq >> 3, (wp.sumsq >> 3) + 16);
        wp.k.factoredPass1x4(
          grid[0],
          grid[1],
          wp.g[t]!,
          wp.mPrev + o * 12,
          wp.rmsPrev + o * 4,
          wp.m + o * 12,
          wp.rms + o * 4,
          wp.p[t]!,
          rowsOuter ? rf : cf,
          rowsOuter ? cf : rf,
          wp.decays,
          wp.sumsq,
        );
        for (let k = 0; k < 16; k++) sumsq[k] = wp.f64[(wp.sumsq >> 3) + k]!;
      } else {
        const d = (rowIds[o]! - R) * 12;
        wp.k.diagPass1x4(
          s,
          wp.g[t]!,
          wp.mPrev + o * 12,
          wp.rmsPrev + o * 4,
          wp.m + o * 12,
          wp.rms + o * 4,
          wp.p[t]!,
          wp.vPrev + d,
          wp.v + d,
          wp.decays,
          wp.sumsq,
        );
        for (let k = 0; k < 28; k++) sumsq[k] = wp.f64[(wp.sumsq >> 3) + k]!;
      }
    } else if (fac && M === 3 && A === 3) {
      factoredFeatures3(feat, sumsq, o, s, g, p, mPrev, rmsPrev, md, rd, m, rms, rowIds, colIds, rowFactor, colFactor);
    } else if (!fac && M === 3 && A === 3 && s > 0) {
      diagFeatures3(feat, sumsq, o, s, g, p, mPrev, rmsPrev, md, rd, fd, m, rms, vDiagPrev, vDiag, rowIds[o]! - R);
    } else
      for (let e = 0; e < s; e++) {
        const i = o + e;
        const gi = g[e]!;
        const f = e * W;
        const rv = ema(rd, rmsPrev[i]!, Math.fround(gi * gi));
        rms[i] = rv;
        const rr = 1 / Math.sqrt(rv + 1e-6);
        feat[f] = gi;
        feat[f + 1] = p[e]!;
        feat[f + 2 + M] = rv;
        feat[f + 3 + 2 * M] = rr;
        momentaFeatures(feat, f, m, mPrev, i, md, gi);
        for (let j = 0; j < M; j++) feat[f + 3 + M + j] = m[i * M + j]! * rr;
        if (fac) {
          const r = rowIds[i]! * A;
          const c = colIds[i]! * A;
          for (let j = 0; j < A; j++) {
            const pre = rowFactor[r + j]! * colFactor[c + j]!;
            feat[f + B + j] = gi * pre;
            feat[f + B + A + j] = m[i * M + j]! * pre;
          }
        } else {
          const d = (rowIds[i]! - R) * A;
          const gs = Math.fround(Math.fround(gi * gi) + 1e-30);
          for (let j = 0; j < A; j++) {
            const v = ema(fd[j]!, vDiagPrev[d + j]!, gs);
            vDiag[d + j] = v;
            const vr = 1 / Math.sqrt(v + 1e-8);
            feat[f + B + j] = gi / Math.sqrt(Math.max(v + 1e-9, 1e-9));
            feat[f + B + A + j] = v;
            feat[f + B + 2 * A + j] = v;
            feat[f + B + 3 * A + j] = vr;
            feat[f + B + 4 * A + j] = vr;
            feat[f + B + 5 * A + j] = m[i * M + j]! / Math.sqrt(v + 1e-6);
          }
        }
        for (let k = 0; k < W; k++) {
          const x = feat[f + k]!;
          sumsq[k]! += x * x;
        }
      }
    if (fac) {
      // Move the element columns' sums to their feature numbers, then add the row and column features'.
      for (let j = A - 1; j >= 0; j--) {
        sumsq[B + 5 * A + j] = sumsq[B + A + j]!;
        sumsq[B + A + j] = 0;
      }
      const [r0, r1, c0, c1] = rowColRange(shapes[t]!, rowIds[o]!, colIds[o]!);
      for (let r = r0; r < r1; r++) {
        for (let j = 0; j < A; j++) {
          sumsq[B + A + j]! += rowCount[r]! * vRow[r * A + j]! ** 2;
          sumsq[B + 3 * A + j]! += rowCount[r]! * rowR[r * A + j]! ** 2;
        }
      }
      for (let c = c0; c < c1; c++) {
        for (let j = 0; j < A; j++) {
          sumsq[B + 2 * A + j]! += colCount[c]! * vCol[c * A + j]! ** 2;
          sumsq[B + 4 * A + j]! += colCount[c]! * colR[c * A + j]! ** 2;
        }
      }
    }
    // The per-tensor normaliser, folded into the first layer's weights.
    for (let k = 0; k < F; k++) sc[k] = 1 / Math.sqrt(sumsq[k]! / s + 1e-5);
    const wm = new Float32Array(W * H0);
    foldNormaliser(wm, w0, sumsq, s, cols, H0);
    // The heavy product on the backend's matmul.
    const h0 =
      s > 0 && !inWasm
        ? ctx.matMul({ data: feat.subarray(0, s * W), rows: s, cols: W }, { data: wm, rows: W, cols: H0 }).data
        : wm;
    // Row and column features through the first layer, once per row / column.
    let rowC = new Float64Array(0);
    let colC = new Float64Array(0);
    let r0 = 0;
    let c0 = 0;
    if (fac) {
      const rc = rowColRange(shapes[t]!, rowIds[o]!, colIds[o]!);
      r0 = rc[0];
      c0 = rc[2];
      rowC = new Float64Array((rc[1] - r0) * H0);
      colC = new Float64Array((rc[3] - c0) * H0);
      for (let r = r0; r < rc[1]; r++) {
        for (let j = 0; j < A; j++) {
          const a1 = vRow[r * A + j]! * sc[B + A + j]!;
          const a2 = rowR[r * A + j]! * sc[B + 3 * A + j]!;
          for (let q = 0; q < H0; q++) {
            rowC[(r - r0) * H0 + q]! += a1 * w0[(B + A + j) * H0 + q]! + a2 * w0[(B + 3 * A + j) * H0 + q]!;
          }
        }
      }
      for (let c = c0; c < rc[3]; c++) {
        for (let j = 0; j < A; j++) {
          const a1 = vCol[c * A + j]! * sc[B + 2 * A + j]!;
          const a2 = colR[c * A + j]! * sc[B + 4 * A + j]!;
          for (let q = 0; q < H0; q++) {
            colC[(c - c0) * H0 + q]! += a1 * w0[(B + 2 * A + j) * H0 + q]! + a2 * w0[(B + 4 * A + j) * H0 + q]!;
          }
        }
      }
    }
    if (wp && inWasm) {
      // First-layer shares into the kernel's memory as float32, the shift folded into the rows'.
      const f = wp.f32;
      f.set(wm, wp.wm >> 2);
      if (grid) {
        const rc = wp.rowC >> 2;
        for (let q = 0; q < rowC.length; q++) f[rc + q] = rowC[q]! + shift0[q & 3]!;
        f.set(colC, wp.colC >> 2);
        // Four elements at a time along the tensor's inner index: the slot that stays the
        // same along it (the row when rows run along the outer index) is the fixed one.
        const rf = wp.rowFactor + rowIds[o]! * 12;
        const cf = wp.colFactor + colIds[o]! * 12;
        const rowsOuter = grid[2] === 1;
        // It rearranges this tensor's varying-slot factors and shares in place: nothing
        // may read them from the kernel's memory after this call.
        wp.k.factoredPass2x4(
          grid[0],
          grid[1],
          wp.g[t]!,
          wp.m + o * 12,
          wp.rms + o * 4,
          wp.p[t]!,
          rowsOuter ? rf : cf,
          rowsOuter ? cf : rf,
          wp.wm,
          rowsOuter ? wp.rowC : wp.colC,
          rowsOuter ? wp.colC : wp.rowC,
          wp.net,
          expMult,
          stepMult,
          wp.out[t]!,
          wp.splat,
        );
      } else {
        wp.k.diagPass2x4(
          s,
          wp.g[t]!,
          wp.m + o * 12,
          wp.rms + o * 4,
          wp.p[t]!,
          wp.v + (rowIds[o]! - R) * 12,
          wp.wm,
          wp.shift,
          wp.net,
          expMult,
          stepMult,
          wp.out[t]!,
          wp.splat,
        );
      }
      outs.push(wp.outputs?.[t] ?? { values: f.subarray(wp.out[t]! >> 2, (wp.out[t]! >> 2) + s), shape: shapes[t]! });
      countAdafacKernelTensor(onHeap);
      o += s;
      continue;
    }
    const out = new Float32Array(s);
    const w1 = ws[1]!;
    const b1 = bs[1]!;
    const w2 = ws[2] ?? w1;
    const b2 = bs[2] ?? b1;
    if (fast) {
      defaultMlpRows(out, h0, shift0, rowC, colC, rowIds, colIds, o, r0, c0, fac, p, w1, b1, w2, b2, expMult, stepMult);
    } else
      for (let e = 0; e < s; e++) {
        const i = o + e;
        let ro = -1;
        let co = -1;
        if (fac) {
          ro = (rowIds[i]! - r0) * H0;
          co = (colIds[i]! - c0) * H0;
        }
        for (let q = 0; q < H0; q++)
          h[q] = h0[e * H0 + q]! + shift0[q]! + (ro >= 0 ? rowC[ro + q]! + colC[co + q]! : 0);
        let width = H0;
        for (let l = 1; l < nLayers; l++) {
          const w = ws[l]!;
          const b = bs[l]!;
          const wo = widths[l]!;
          for (let q = 0; q < wo; q++) h2[q] = b[q]!;
          for (let k = 0; k < width; k++) {
            const x = Math.max(h[k]!, 0);
            for (let q = 0; q < wo; q++) h2[q]! += x * w[k * wo + q]!;
          }
          for (let q = 0; q < wo; q++) h[q] = h2[q]!;
          width = wo;
        }
        out[e] = p[e]! - h[0]! * Math.exp(h[1]! * expMult) * stepMult;
      }
    outs.push({ values: out, shape: shapes[t]! });
    o += s;
  }
  const held = wp?.outputs;
  const result = [
    ...outs,
    held?.[L] ?? { values: m, shape: [N, M] },
    held?.[L + 1] ?? { values: rms, shape: [N, 1] },
    { values: vRow, shape: [R, A] },
    { values: vCol, shape: [C, A] },
    held?.[L + 2] ?? { values: vDiag, shape: [D, A] },
  ];
  // Views of the kernel's memory are overwritten by the next step: the wasm backend copies
  // outputs into its own memory, the cpu backend keeps the array it is given, so copy there.
  if (wp && tf.getBackend() !== 'wasm') {
    const buf = wp.k.memory.buffer;
    for (const r of result) if (r.values.buffer === buf) r.values = r.values.slice();
  }
  return result;
}

/** Inputs of the fused step: leaves, accumulators, decays (`[k]`) and the MLP. */
export interface FusedAdafacInputs {
  /** Parameter leaves, in flattening order. */
  params: tf.Tensor[];
  /** Gradient leaves, in the same order. */
  grads: tf.Tensor[];
  /** Momenta, `[N, decays]`. */
  m: tf.Tensor2D;
  /** Second moments, `[N, 1]`. */
  rms: tf.Tensor2D;
  /** Row accumulators of factored tensors, `[R, decays]`. */
  vRow: tf.Tensor2D;
  /** Column accumulators of factored tensors, `[C, decays]`. */
  vCol: tf.Tensor2D;
  /** Full accumulators of unfactored tensors, `[D, decays]`. */
  vDiag: tf.Tensor2D;
  /** Momentum decays. */
  momDecay: tf.Tensor1D;
  /** The second-moment decay, `[1]`. */
  rmsDecay: tf.Tensor1D;
  /** Adafactor decays. */
  facDecay: tf.Tensor1D;
  /** The MLP's weights and biases. */
  layers: readonly { w: tf.Tensor2D; b: tf.Tensor1D }[];
  /** The first layer's bias plus the step embeddings through their weight rows, `[hidden]`. */
  shift0: tf.Tensor;
  /** Scale inside the exponential of the step magnitude. */
  expMult: number;
  /** Scale of the step. */
  stepMult: number;
}

/**
 * True when the kernel covers these decays and MLP: one RMS decay, as many momentum as
 * Adafactor decays, and two outputs (direction and magnitude).
 */
export function fusedAdafacApplies(
  rmsDecay: tf.Tensor1D,
  momDecay: tf.Tensor1D,
  facDecay: tf.Tensor1D,
  layers: readonly { w: tf.Tensor2D }[],
): boolean {
  return (
    rmsDecay.shape[0] === 1 && momDecay.shape[0] === facDecay.shape[0] && layers[layers.length - 1]!.w.shape[1] === 2
  );
}

/**
 * The fused update (where `fusedAdafacApplies`), or `undefined` when the kernel is not
 * registered on this backend. Returns `[newParamLeaves, m, rms, vRow, vCol, vDiag]`.
 */
export function fusedAdafacStep(
  x: FusedAdafacInputs,
): [tf.Tensor[], tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D] | undefined {
  const L = x.params.length;
  const name = KERNEL(L);
  registerFusedKernel(name, body);
  if (!kernelRegistered(name)) return undefined;
  const inputs: Record<string, tf.Tensor> = {
    m: x.m,
    rms: x.rms,
    vRow: x.vRow,
    vCol: x.vCol,
    vDiag: x.vDiag,
    momDecay: x.momDecay,
    rmsDecay: x.rmsDecay,
    facDecay: x.facDecay,
    shift0: x.shift0,
  };
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
  const [m, rms, vRow, vCol, vDiag] = outs.slice(L) as tf.Tensor2D[];
  return [outs.slice(0, L), m!, rms!, vRow!, vCol!, vDiag!];
}

/** `FusedAdafacInputs` of K problems stacked on a leading axis (decays and MLP per problem). */
export interface FusedStackedAdafacInputs {
  /** Parameter leaves `[K, ...]`, in flattening order. */
  params: tf.Tensor[];
  /** Gradient leaves `[K, ...]`, in the same order. */
  grads: tf.Tensor[];
  /** Momenta, `[K, N, decays]`. */
  m: tf.Tensor3D;
  /** Second moments, `[K, N, 1]`. */
  rms: tf.Tensor3D;
  /** Row accumulators, `[K, R, decays]`. */
  vRow: tf.Tensor3D;
  /** Column accumulators, `[K, C, decays]`. */
  vCol: tf.Tensor3D;
  /** Full accumulators, `[K, D, decays]`. */
  vDiag: tf.Tensor3D;
  /** Momentum decays, `[K, decays]`. */
  momDecay: tf.Tensor2D;
  /** Second-moment decays, `[K, 1]`. */
  rmsDecay: tf.Tensor2D;
  /** Adafactor decays, `[K, decays]`. */
  facDecay: tf.Tensor2D;
  /** Each problem's MLP: weights `[K, fanIn, fanOut]`, biases `[K, fanOut]`. */
  layers: readonly { w: tf.Tensor3D; b: tf.Tensor2D }[];
  /** Each problem's first-layer shift, `[K, hidden]`. */
  shift0: tf.Tensor2D;
  /** Scale inside the exponential of the step magnitude. */
  expMult: number;
  /** Scale of the step. */
  stepMult: number;
}

/**
 * The fused update of K problems in one kernel call (`stackedFusedBody` of the
 * single-problem kernel: each problem's arithmetic is exactly its own kernel's), or
 * `undefined` when the kernel is not registered here. Every input is stacked on a
 * leading axis of K; returns `[newParamLeaves, m, rms, vRow, vCol, vDiag]`, stacked.
 */
export function fusedStackedAdafacStep(
  x: FusedStackedAdafacInputs,
): [tf.Tensor[], tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D] | undefined {
  const L = x.params.length;
  const name = `${KERNEL(L)}Stacked`;
  registerFusedKernel(name, stackedFusedBody(body));
  if (!kernelRegistered(name)) return undefined;
  const inputs: Record<string, tf.Tensor> = {
    m: x.m,
    rms: x.rms,
    vRow: x.vRow,
    vCol: x.vCol,
    vDiag: x.vDiag,
    momDecay: x.momDecay,
    rmsDecay: x.rmsDecay,
    facDecay: x.facDecay,
    shift0: x.shift0,
  };
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
    problems: x.m.shape[0],
  });
  const [m, rms, vRow, vCol, vDiag] = outs.slice(L) as tf.Tensor3D[];
  return [outs.slice(0, L), m!, rms!, vRow!, vCol!, vDiag!];
}
