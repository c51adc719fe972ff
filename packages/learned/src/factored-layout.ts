import * as tf from '@tensorflow/tfjs-core';
import { safeRsqrt } from './features.js';

/**
 * Where each element of a raveled parameter vector sits in the Adafactor-style
 * factored accumulators (the reference's `factored_rolling`). A tensor of rank >= 2
 * is factored over its two largest dimensions `d1 < d0` by size: a row accumulator
 * (the tensor's shape without `d0`) and a column accumulator (without `d1`). Smaller
 * tensors get a full ("diagonal") accumulator.
 *
 * Rows are numbered `[factored rows (R) | diagonal entries (D)]` and columns
 * `[factored columns (C) | diagonal entries (D)]`, so one segment reduction over each
 * numbering updates every tensor at once.
 */
export interface FactoredLayout {
  /** Total factored row entries. */
  numRows: number;
  /** Total factored column entries. */
  numCols: number;
  /** Total diagonal entries (elements of unfactored tensors). */
  numDiag: number;
  /** Row slot of each element, in `[0, R + D)`. */
  rowIds: Int32Array;
  /** Column slot of each element, in `[0, C + D)`. */
  colIds: Int32Array;
  /** For each factored row entry, its group for the mean over the reduced `d1` axis. */
  rowGroupIds: Int32Array;
  /** Number of row groups. */
  numRowGroups: number;
  /** 1 where the element belongs to a factored tensor. */
  isFactored: Uint8Array;
}

/** The factored dims `[d1, d0]` of a shape (the two largest, ties by position), or null below rank 2. */
export function factoredDims(shape: readonly number[]): [number, number] | null {
  if (shape.length < 2) return null;
  const order = shape.map((d, i) => [d, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return [order[order.length - 2]![1], order[order.length - 1]![1]];
}

function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!;
  return s;
}

function without(shape: readonly number[], axis: number): number[] {
  return shape.filter((_, i) => i !== axis);
}

/** Computes the layout for leaves of the given shapes (in `ravelPytree` order). */
export function factoredLayout(shapes: readonly (readonly number[])[]): FactoredLayout {
  const sizes = shapes.map((s) => s.reduce((a, b) => a * b, 1));
  const total = sizes.reduce((a, b) => a + b, 0);
  let numRows = 0;
  let numCols = 0;
  let numDiag = 0;
  let numRowGroups = 0;
  for (const [t, shape] of shapes.entries()) {
    const f = factoredDims(shape);
    if (!f) {
      numDiag += sizes[t]!;
      continue;
    }
    const [d1, d0] = f;
    numRows += sizes[t]! / shape[d0]!;
    numCols += sizes[t]! / shape[d1]!;
    numRowGroups += sizes[t]! / shape[d0]! / shape[d1]!;
  }
  const rowIds = new Int32Array(total);
  const colIds = new Int32Array(total);
  const rowGroupIds = new Int32Array(numRows);
  const isFactored = new Uint8Array(total);
  let off = 0;
  let rOff = 0;
  let cOff = 0;
  let dOff = 0;
  let gOff = 0;
  for (const [t, shape] of shapes.entries()) {
    const size = sizes[t]!;
    const f = factoredDims(shape);
    if (!f) {
      for (let e = 0; e < size; e++) {
        rowIds[off + e] = numRows + dOff + e;
        colIds[off + e] = numCols + dOff + e;
      }
      dOff += size;
      off += size;
      continue;
    }
    const [d1, d0] = f;
    const st = strides(shape);
    const rowShape = without(shape, d0);
    const colShape = without(shape, d1);
    const rSt = strides(rowShape);
    const cSt = strides(colShape);
    const reducedD1 = d1 > d0 ? d1 - 1 : d1;
    const gShape = without(rowShape, reducedD1);
    const gSt = strides(gShape);
    const idx = new Array<number>(shape.length);
    for (let e = 0; e < size; e++) {
      let rem = e;
      for (let a = 0; a < shape.length; a++) {
        idx[a] = Math.floor(rem / st[a]!);
        rem -= idx[a]! * st[a]!;
      }
      const ri = without(idx, d0);
      const ci = without(idx, d1);
      let r = 0;
      let c = 0;
      for (let a = 0; a < ri.length; a++) r += ri[a]! * rSt[a]!;
      for (let a = 0; a < ci.length; a++) c += ci[a]! * cSt[a]!;
      rowIds[off + e] = rOff + r;
      colIds[off + e] = cOff + c;
      isFactored[off + e] = 1;
      const gi = without(ri, reducedD1);
      let gidx = 0;
      for (let a = 0; a < gi.length; a++) gidx += gi[a]! * gSt[a]!;
      rowGroupIds[rOff + r] = gOff + gidx;
    }
    rOff += size / shape[d0]!;
    cOff += size / shape[d1]!;
    gOff += size / shape[d0]! / shape[d1]!;
    off += size;
  }
  return { numRows, numCols, numDiag, rowIds, colIds, rowGroupIds, numRowGroups, isFactored };
}

/** The factored accumulators and features of one tensor, each `[rows, decays]`. */
export interface FactoredLeaf {
  /** Gradient preconditioned by the factored (or, unfactored, full) accumulators. */
  facG: tf.Tensor2D;
  /** Momenta preconditioned the same way. */
  facMom: tf.Tensor2D;
  /** Each element's row accumulator (unfactored: its own accumulator). */
  rowVal: tf.Tensor2D;
  /** Each element's column accumulator (unfactored: its own accumulator). */
  colVal: tf.Tensor2D;
  /** The updated row (`[R_t, k]`) and column (`[C_t, k]`) accumulators, or the full one (`[size, k]`). */
  next: { row: tf.Tensor2D; col: tf.Tensor2D } | { diag: tf.Tensor2D };
}

/**
 * One tensor's Adafactor-style accumulator update and features, computed on the tensor's
 * own view (reshape + mean over its factored axes): memory O(size). `gsq` is
 * `g^2 + 1e-30` (`[size, 1]` or `[size, k]`), `g` the gradient (`[size, 1]`), `m` the momenta
 * (`[size, k]`), `prev` the tensor's previous accumulators as stored in the state and
 * `decay` the `[k]` decays.
 */
export function factoredLeaf(
  shape: readonly number[],
  gsq: tf.Tensor2D,
  g: tf.Tensor2D,
  m: tf.Tensor2D,
  prev: { row: tf.Tensor2D; col: tf.Tensor2D } | { diag: tf.Tensor2D },
  decay: tf.Tensor1D,
): FactoredLeaf {
  const size = gsq.shape[0];
  const k = decay.shape[0];
  const keep = tf.sub(1, decay);
  const f = factoredDims(shape);
  if (f === null || !('row' in prev)) {
    if ('row' in prev) throw new Error('factoredLeaf: an unfactored tensor needs a full accumulator');
    const v = tf.add(tf.mul(decay, prev.diag), tf.mul(keep, gsq)) as tf.Tensor2D;
    return {
      facG: tf.mul(g, safeRsqrt(tf.add(v, 1e-9))) as tf.Tensor2D,
      facMom: tf.mul(m, tf.rsqrt(tf.add(v, 1e-6))) as tf.Tensor2D,
      rowVal: v,
      colVal: v,
      next: { diag: v },
    };
  }
  const [d1, d0] = f;
  const full = [...shape, k];
  const rowShape = [...without(shape, d0), k];
  const colShape = [...without(shape, d1), k];
  const x = tf.reshape(gsq, [...shape, gsq.shape[1]]);
  const vRow = tf.add(tf.mul(decay, tf.reshape(prev.row, rowShape)), tf.mul(keep, tf.mean(x, d0)));
  const vCol = tf.add(tf.mul(decay, tf.reshape(prev.col, colShape)), tf.mul(keep, tf.mean(x, d1)));
  const reducedD1 = d1 > d0 ? d1 - 1 : d1;
  const rowFactor = safeRsqrt(tf.div(vRow, tf.add(tf.mean(vRow, reducedD1, true), 1e-9)));
  const pre = tf.mul(tf.expandDims(rowFactor, d0), tf.expandDims(safeRsqrt(vCol), d1));
  const flat = (t: tf.Tensor) => tf.reshape(t, [size, k]) as tf.Tensor2D;
  return {
    facG: flat(tf.mul(tf.reshape(g, [...shape, 1]), pre)),
    facMom: flat(tf.mul(tf.reshape(m, full), pre)),
    rowVal: flat(tf.broadcastTo(tf.expandDims(vRow, d0), full)),
    colVal: flat(tf.broadcastTo(tf.expandDims(vCol, d1), full)),
    next: { row: tf.reshape(vRow, [-1, k]) as tf.Tensor2D, col: tf.reshape(vCol, [-1, k]) as tf.Tensor2D },
  };
}
