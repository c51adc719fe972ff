import { assertSameStructure, type PyTree, treeFlatten, treeUnflatten } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';

/** The leaf layout of a raveled tree, and the way back to the tree. */
export interface RaveledLayout<P> {
  /** Number of elements in all leaves. */
  n: number;
  /** Shape of each leaf, in flattening order. */
  shapes: number[][];
  /** Number of elements of each leaf, in flattening order. */
  sizes: number[];
  /** Splits an `[N]` (or `[N, 1]`) tensor back into a tree shaped like the params. */
  unravel: (flat: tf.Tensor) => P;
}

/** Parameters and gradients raveled into `[N, 1]` columns, plus the way back. */
export interface RaveledParamsGrads<P> {
  /** Sizes, shapes and `unravel`. */
  raveled: RaveledLayout<P>;
  /** Parameters, `[N, 1]`. */
  p: tf.Tensor2D;
  /** Gradients, `[N, 1]`. */
  g: tf.Tensor2D;
}

function column(leaves: tf.Tensor[]): tf.Tensor2D {
  const cols = leaves.map((l) => tf.reshape(l, [-1, 1]));
  return (cols.length === 1 ? cols[0]! : tf.concat(cols, 0)) as tf.Tensor2D;
}

/**
 * Ravels `params` and `grads` into columns so a per-parameter update runs over all
 * parameters at once (like `ravelPytree`, without its per-leaf casts: float32 leaves
 * are required). Throws a clear error when the two trees differ in structure or shapes,
 * when a leaf is not a float32 tensor, or when the state was built for other
 * parameters (`expectedSize`).
 */
export function ravelParamsGrads<P>(who: string, params: P, grads: P, expectedSize?: number): RaveledParamsGrads<P> {
  const { params: tensors, grads: gl, def, shapes, sizes, n } = checkParamsGrads(who, params, grads, expectedSize);
  const unravel = (flat: tf.Tensor): P => {
    if (flat.size !== n) throw new Error(`${who}: cannot unravel ${flat.size} values into ${n} parameters`);
    const v = tf.reshape(flat, [n]);
    const parts = tensors.length === 1 ? [v] : tf.split(v, sizes, 0);
    return treeUnflatten(
      def,
      parts.map((x, i) => tf.reshape(x, shapes[i]!)),
    ) as P;
  };
  return { raveled: { n, shapes, sizes, unravel }, p: column(tensors), g: column(gl) };
}

/** The leaves of checked parameters and gradients (see `checkParamsGrads`). */
export interface CheckedParamsGrads {
  /** Parameter leaves, in flattening order. */
  params: tf.Tensor[];
  /** Gradient leaves, in the same order. */
  grads: tf.Tensor[];
  /** The tree structure, for `treeUnflatten`. */
  def: ReturnType<typeof treeFlatten>[1];
  /** Shape of each leaf. */
  shapes: number[][];
  /** Number of elements of each leaf. */
  sizes: number[];
  /** Number of elements in all leaves. */
  n: number;
}

/**
 * The checks of `ravelParamsGrads` without the raveling: same structure and shapes,
 * float32 leaves, at least one leaf, `expectedSize` elements when given.
 */
export function checkParamsGrads<P>(who: string, params: P, grads: P, expectedSize?: number): CheckedParamsGrads {
  assertSameStructure(params, grads, `${who}.update: params and grads`);
  const [pl, def] = treeFlatten(params as PyTree<unknown>);
  const gl = treeFlatten(grads as PyTree<unknown>)[0];
  pl.forEach((p, i) => {
    const g = gl[i];
    if (!(p instanceof tf.Tensor) || p.dtype !== 'float32')
      throw new Error(`${who}: parameter leaf ${i} is not a float32 tensor`);
    if (!(g instanceof tf.Tensor) || g.dtype !== 'float32')
      throw new Error(`${who}: gradient leaf ${i} is not a float32 tensor`);
    if (p.shape.length !== g.shape.length || p.shape.some((d: number, j: number) => d !== g.shape[j])) {
      throw new Error(
        `${who}.update: gradient leaf ${i} has shape [${g.shape.join(', ')}] but its parameter has [${p.shape.join(', ')}]`,
      );
    }
  });
  const tensors = pl as tf.Tensor[];
  const shapes = tensors.map((t) => t.shape.slice());
  const sizes = tensors.map((t) => t.size);
  const n = sizes.reduce((a, b) => a + b, 0);
  if (expectedSize !== undefined && expectedSize !== n) {
    throw new Error(`${who}.update: the state holds accumulators for ${expectedSize} parameters but params have ${n}`);
  }
  if (tensors.length === 0) throw new Error(`${who}: params have no tensors`);
  return { params: tensors, grads: gl as tf.Tensor[], def, shapes, sizes, n };
}
