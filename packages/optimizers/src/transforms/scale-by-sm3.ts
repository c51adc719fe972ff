import { type PyTree, treeFlatten, treeUnflatten } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { Hyperparam } from '../hyperparams.js';
import type { GradientTransformation } from '../transform.js';
import { mapLike } from '../tree-ops.js';

/** State of `scaleBySm3`. */
export interface ScaleBySm3State {
  /** Per leaf, one accumulator per axis (a vector of that axis's size). */
  mu: tf.Tensor[][];
  /** The momentum of the rescaled updates. */
  nu: unknown;
}

/**
 * SM3's rescaling (optax's `scale_by_sm3`, Anil et al. 2019): the second-moment
 * accumulator of a leaf is the minimum over axes of per-axis maxima, so it stores one
 * vector per axis. `b1` is the momentum (default 0.9); `b2` 1 (the default) accumulates
 * sums, below 1 moving averages. Scalar leaves are
 * treated as vectors of length 1.
 */
export function scaleBySm3(
  b1: Hyperparam = 0.9,
  b2: Hyperparam = 1,
  eps: Hyperparam = 1e-8,
): GradientTransformation<ScaleBySm3State> {
  const newAccum = (g: tf.Tensor, v: tf.Tensor[]): tf.Tensor => {
    const [c0, c1] =
      typeof b2 === 'number' && b2 === 1 ? [1, 1] : [typeof b2 === 'number' ? 1 - b2 : tf.sub(1, b2), b2];
    const prev = v.length === 1 ? v[0]! : v.reduce((a, b) => tf.minimum(a, b));
    return tf.add(tf.mul(tf.square(g), c0), tf.mul(prev, c1));
  };
  return {
    init: (params) => {
      const [leaves] = treeFlatten(params as PyTree);
      return {
        // Scalars are treated as vectors of length 1, as the reference's SM3 reshapes them.
        mu: leaves.map((p) => (p.rank === 0 ? [tf.zeros([1])] : p.shape.map((n) => tf.zeros([n])))),
        nu: mapLike((p) => tf.zerosLike(p), params),
      };
    },
    update: (updates, state) => {
      const [gs, def] = treeFlatten(updates as PyTree);
      if (state.mu.length !== gs.length)
        throw new Error(`scaleBySm3: state has ${state.mu.length} leaves, updates ${gs.length}`);
      const gv = gs.map((g) => (g.rank === 0 ? tf.reshape(g, [1]) : g));
      const accums = gv.map((g, j) => {
        const v = state.mu[j]!.map((m, i) =>
          tf.reshape(
            m,
            g.shape.map((n, k) => (k === i ? n : 1)),
          ),
        );
        return newAccum(g, v);
      });
      const up = treeUnflatten<tf.Tensor, typeof updates>(
        def,
        gv.map((g, j) => {
          const a = accums[j]!;
          const pos = tf.greater(a, 0);
          const inv = tf.rsqrt(tf.add(tf.where(pos, a, tf.onesLike(a)), eps));
          const u = tf.mul(g, tf.where(pos, inv, tf.zerosLike(a)));
          return gs[j]!.rank === 0 ? tf.reshape(u, []) : u;
        }),
      );
      const nu = mapLike(
        (u, n) => tf.add(tf.mul(n, b1), tf.mul(u, typeof b1 === 'number' ? 1 - b1 : tf.sub(1, b1))),
        up,
        state.nu,
      );
      const mu = accums.map((a) =>
        a.shape.map((_, i) =>
          a.rank < 2
            ? a
            : tf.max(
                a,
                a.shape.map((__, k) => k).filter((k) => k !== i),
              ),
        ),
      );
      return [nu, { mu, nu }];
    },
  };
}
