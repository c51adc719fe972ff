import { Segments } from './segments.js';

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

/** The segment groupings of a layout (create inside a `tf.tidy`). */
export function layoutSegments(layout: FactoredLayout): { rows: Segments; cols: Segments; rowGroups: Segments | null } {
  return {
    rows: new Segments(layout.rowIds, layout.numRows + layout.numDiag),
    cols: new Segments(layout.colIds, layout.numCols + layout.numDiag),
    rowGroups: layout.numRows > 0 ? new Segments(layout.rowGroupIds, layout.numRowGroups) : null,
  };
}
