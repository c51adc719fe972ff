import * as tf from '@tensorflow/tfjs-core';

/**
 * A grouping of the rows of an `[N, k]` matrix into `n` segments, for reductions over
 * each parameter tensor (or each Adafactor row) of a raveled parameter vector in a few
 * large ops. Built from a one-hot `[N, n]` matrix, so a segment sum and the broadcast
 * back are both one matmul (wasm has no UnsortedSegmentSum kernel), and both are
 * differentiable. Create it inside the `tf.tidy` that uses it.
 */
export class Segments {
  /** One-hot membership, `[N, n]` float32. */
  readonly oneHot: tf.Tensor2D;
  /** Elements per segment, `[n, 1]`. */
  readonly counts: tf.Tensor2D;

  constructor(
    ids: Int32Array,
    readonly n: number,
  ) {
    const counts = new Float32Array(n);
    for (const i of ids) counts[i]! += 1;
    // tf.oneHot needs a depth of at least 2.
    this.oneHot = (
      n < 2 ? tf.ones([ids.length, n]) : tf.cast(tf.oneHot(tf.tensor1d(ids, 'int32'), n), 'float32')
    ) as tf.Tensor2D;
    this.counts = tf.tensor2d(counts, [n, 1]);
  }

  /** Contiguous segments of the given sizes (the leaves of a raveled tree). */
  static contiguous(sizes: readonly number[]): Segments {
    const total = sizes.reduce((a, b) => a + b, 0);
    const ids = new Int32Array(total);
    let o = 0;
    sizes.forEach((s, t) => {
      ids.fill(t, o, o + s);
      o += s;
    });
    return new Segments(ids, sizes.length);
  }

  /** Per-segment sums of `x` (`[N, k]`): `[n, k]`. */
  sum(x: tf.Tensor2D): tf.Tensor2D {
    return tf.matMul(this.oneHot, x, true, false);
  }

  /** Per-segment means of `x` (`[N, k]`): `[n, k]`. */
  mean(x: tf.Tensor2D): tf.Tensor2D {
    return tf.div(this.sum(x), this.counts) as tf.Tensor2D;
  }

  /** Each row of `v` (`[n, k]`) repeated for the members of its segment: `[N, k]`. */
  expand(v: tf.Tensor2D): tf.Tensor2D {
    return tf.matMul(this.oneHot, v);
  }

  /**
   * The reference's second-moment normaliser applied per segment:
   * `x * rsqrt(1e-5 + mean(x^2))`, the mean taken over each segment, per column.
   */
  secondMomentNormalize(x: tf.Tensor2D, eps = 1e-5): tf.Tensor2D {
    return tf.mul(x, this.expand(tf.rsqrt(tf.add(this.mean(tf.square(x)), eps)) as tf.Tensor2D)) as tf.Tensor2D;
  }
}
