import { assertSameStructure, type PyTree, treeFlatten, treeUnflatten } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { Linear } from './nn.js';

/*
 * Helpers of the vectorized (K problems at once) learned-optimizer updates. Their
 * per-element tensors use the layout `[K, c, N]`: problem, feature column, element. On
 * the wasm backend only plain 2D matmuls without transposes are fast (batched and
 * transposed matmuls are 7-10x slower, concats and splits along a non-leading axis of
 * long rows run as JavaScript loops), and in this layout every per-tensor reduction is
 * one `[K*c, N] x [N, n]` matmul, feature columns are contiguous rows, and each problem's
 * block is a contiguous slice.
 */

/** Stacked parameters and gradients raveled to `[K, N]` rows, and the way back. */
export interface StackedRaveled<P> {
  /** Number of problems. */
  k: number;
  /** Elements per problem. */
  n: number;
  /** One problem's leaf shapes (without the leading K), in flattening order. */
  shapes: number[][];
  /** Elements of each leaf, in flattening order. */
  sizes: number[];
  /** Parameters, `[K, N]`. */
  p: tf.Tensor2D;
  /** Gradients, `[K, N]`. */
  g: tf.Tensor2D;
  /** `[K, N]` back to a tree of leaves `[K, ...shape]`. */
  unravel: (flat: tf.Tensor) => P;
}

function rows(leaves: tf.Tensor[], k: number): tf.Tensor2D {
  const r = leaves.map((l) => tf.reshape(l, [k, -1]));
  return (r.length === 1 ? r[0]! : tf.concat(r, 1)) as tf.Tensor2D;
}

/**
 * Ravels parameters and gradients whose leaves are stacked on a leading axis of `k`
 * problems into `[K, N]` rows. Throws a clear error on mismatched trees or shapes, a
 * leaf that is not a float32 tensor stacked over `k` problems, or a state built for
 * another number of parameters (`expectedSize`).
 */
export function ravelStacked<P>(who: string, params: P, grads: P, k: number, expectedSize?: number): StackedRaveled<P> {
  assertSameStructure(params, grads, `${who}.update: params and grads`);
  const [pl, def] = treeFlatten(params as PyTree<unknown>);
  const gl = treeFlatten(grads as PyTree<unknown>)[0];
  if (pl.length === 0) throw new Error(`${who}: params have no tensors`);
  pl.forEach((p, i) => {
    const g = gl[i];
    if (!(p instanceof tf.Tensor) || p.dtype !== 'float32')
      throw new Error(`${who}: parameter leaf ${i} is not a float32 tensor`);
    if (!(g instanceof tf.Tensor) || g.dtype !== 'float32')
      throw new Error(`${who}: gradient leaf ${i} is not a float32 tensor`);
    if (p.rank < 1 || p.shape[0] !== k) {
      throw new Error(
        `${who}: parameter leaf ${i} has shape [${p.shape.join(', ')}], expected ${k} problems stacked on axis 0`,
      );
    }
    if (!tf.util.arraysEqual(p.shape, g.shape)) {
      throw new Error(
        `${who}.update: gradient leaf ${i} has shape [${g.shape.join(', ')}] but its parameter has [${p.shape.join(', ')}]`,
      );
    }
  });
  const tensors = pl as tf.Tensor[];
  const shapes = tensors.map((t) => t.shape.slice(1));
  const sizes = tensors.map((t) => t.size / k);
  const n = sizes.reduce((a, b) => a + b, 0);
  if (expectedSize !== undefined && expectedSize !== n) {
    throw new Error(`${who}.update: the state holds accumulators for ${expectedSize} parameters but params have ${n}`);
  }
  const unravel = (flat: tf.Tensor): P => {
    const v = tf.reshape(flat, [k, n]);
    const parts = tensors.length === 1 ? [v] : tf.split(v, sizes, 1);
    return treeUnflatten(
      def,
      parts.map((x, i) => tf.reshape(x, [k, ...shapes[i]!])),
    ) as P;
  };
  return { k, n, shapes, sizes, p: rows(tensors, k), g: rows(gl as tf.Tensor[], k), unravel };
}

/** Largest membership matrix `StackedSegments` builds (64M entries, 256 MB as float32). */
const MAX_MEMBERSHIP = 2 ** 26;

/**
 * A grouping of N elements into `n` segments for `[K, c, N]` tensors: per-segment sums
 * and the broadcast back are each one plain 2D matmul over all K problems and c
 * columns. Create it inside the `tf.tidy` that uses it.
 */
export class StackedSegments {
  /** Membership, `[N, n]`. */
  readonly member: tf.Tensor2D;
  /** Membership transposed, `[n, N]`. */
  readonly memberT: tf.Tensor2D;
  /** Elements per segment, `[n]`. */
  readonly counts: tf.Tensor1D;

  /**
   * @param ids the segment of each element, in `[0, n)`
   * @param n the number of segments
   */
  constructor(
    ids: Int32Array,
    readonly n: number,
  ) {
    const N = ids.length;
    // Two dense N x n matrices: fine for the small problems vectorized training runs,
    // impossible for large ones (1M parameters and 100k Adafactor rows is 10^11 floats).
    if (N * n > MAX_MEMBERSHIP) {
      throw new Error(
        `vectorized update: ${N} parameters in ${n} groups need a ${N} x ${n} membership matrix, over the limit of ${MAX_MEMBERSHIP} entries; use optFn per problem for models this large`,
      );
    }
    const m = new Float32Array(N * n);
    const mt = new Float32Array(N * n);
    const counts = new Float32Array(n);
    ids.forEach((s, i) => {
      m[i * n + s] = 1;
      mt[s * N + i] = 1;
      counts[s]! += 1;
    });
    this.member = tf.tensor2d(m, [N, n]);
    this.memberT = tf.tensor2d(mt, [n, N]);
    this.counts = tf.tensor1d(counts);
  }

  /** Contiguous segments of the given sizes (the leaves of a raveled tree). */
  static contiguous(sizes: readonly number[]): StackedSegments {
    const ids = new Int32Array(sizes.reduce((a, b) => a + b, 0));
    let o = 0;
    sizes.forEach((s, t) => {
      ids.fill(t, o, o + s);
      o += s;
    });
    return new StackedSegments(ids, sizes.length);
  }

  /** Per-segment sums of `x` (`[K, c, N]`): `[K, c, n]`. */
  sum(x: tf.Tensor3D): tf.Tensor3D {
    const [k, c, N] = x.shape;
    return tf.reshape(tf.matMul(tf.reshape(x, [k * c, N]) as tf.Tensor2D, this.member), [k, c, this.n]);
  }

  /** Per-segment means of `x` (`[K, c, N]`): `[K, c, n]`. */
  mean(x: tf.Tensor3D): tf.Tensor3D {
    return tf.div(this.sum(x), this.counts) as tf.Tensor3D;
  }

  /** Each segment's value of `v` (`[K, c, n]`) repeated for its members: `[K, c, N]`. */
  expand(v: tf.Tensor3D): tf.Tensor3D {
    const [k, c] = v.shape;
    return tf.reshape(tf.matMul(tf.reshape(v, [k * c, this.n]) as tf.Tensor2D, this.memberT), [
      k,
      c,
      this.memberT.shape[1],
    ]);
  }

  /** The reference's second-moment normaliser per segment and column: `x * rsqrt(eps + mean(x^2))`. */
  secondMomentNormalize(x: tf.Tensor3D, eps = 1e-5): tf.Tensor3D {
    return tf.mul(
      x,
      this.expand(tf.rsqrt(tf.add(this.mean(tf.square(x) as tf.Tensor3D), eps)) as tf.Tensor3D),
    ) as tf.Tensor3D;
  }
}

/** The timescales of the reference's step embeddings (as `tanhEmbedding`). */
const TIMESCALES = [1, 3, 10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000];

/** `tanh(t / s - 1)` for each of K iterations (`[K]`): `[K, 11]`. */
export function stackedTanhEmbedding(iteration: tf.Tensor1D): tf.Tensor2D {
  const t = tf.reshape(tf.cast(iteration, 'float32'), [-1, 1]);
  return tf.tanh(tf.sub(tf.div(t, tf.tensor1d(TIMESCALES)), 1)) as tf.Tensor2D;
}

/**
 * Problem k's MLP (`layers[k]`, as `applyMlp`, with `extra[k]` through the first layer's
 * trailing rows) applied to its features `x[k]` (`[F, N]`). Returns the two outputs
 * (direction, magnitude) as `[K, 1, N]` each. Each problem runs plain 2D matmuls with
 * the N elements as rows (the fast path on wasm; a batched matmul over the K problems,
 * or N as the output dimension, is several times slower there).
 */
export function perProblemMlp(
  layers: readonly (readonly Linear[])[],
  x: tf.Tensor3D,
  extra: tf.Tensor2D,
): [tf.Tensor3D, tf.Tensor3D] {
  const [k, f, n] = x.shape;
  const xt = tf.transpose(x, [0, 2, 1]); // [K, N, F]
  const xs = k === 1 ? [tf.reshape(xt, [n, f])] : tf.unstack(xt);
  const es = tf.unstack(extra);
  const outs = layers.map((mlp, i) => {
    let h = xs[i] as tf.Tensor2D;
    mlp.forEach((layer, j) => {
      if (j === 0) {
        const fanOut = layer.w.shape[1];
        const wx = tf.slice(layer.w, [0, 0], [f, fanOut]) as tf.Tensor2D;
        const we = tf.slice(layer.w, [f, 0], [-1, fanOut]) as tf.Tensor2D;
        const e = tf.add(tf.matMul(tf.reshape(es[i]!, [1, -1]) as tf.Tensor2D, we), layer.b);
        h = tf.add(tf.matMul(h, wx), e) as tf.Tensor2D;
      } else {
        h = tf.add(tf.matMul(h, layer.w), layer.b) as tf.Tensor2D;
      }
      if (j < mlp.length - 1) h = tf.relu(h);
    });
    return h;
  });
  const out = outs.length === 1 ? outs[0]! : (tf.concat(outs, 0) as tf.Tensor2D); // [K*N, 2]
  // Columns picked by matmuls: a column slice of long rows is a JavaScript loop on wasm.
  const pick = (c: number) =>
    tf.reshape(tf.matMul(out, tf.tensor2d(c === 0 ? [1, 0] : [0, 1], [2, 1])), [k, 1, n]) as tf.Tensor3D;
  return [pick(0), pick(1)];
}

/** `x[K, N, c]` as `[K, c, N]` and back (the stored per-problem accumulators are `[N, c]`). */
export function swapLast(x: tf.Tensor): tf.Tensor3D {
  return (
    x.shape[2] === 1 || x.shape[1] === 1
      ? tf.reshape(x, [x.shape[0]!, x.shape[2]!, x.shape[1]!])
      : tf.transpose(x, [0, 2, 1])
  ) as tf.Tensor3D;
}

/** Checks that a state leaf is stacked over `k` problems. */
export function checkStacked(who: string, what: string, x: tf.Tensor, k: number): void {
  if (x.rank < 1 || x.shape[0] !== k) {
    throw new Error(`${who}: ${what} has shape [${x.shape.join(', ')}], expected ${k} problems stacked on axis 0`);
  }
}
