import * as tf from '@tensorflow/tfjs-core';
import { type PyTree, treeFlatten, treeLeaves, treeUnflatten } from '@lopt/pytree';
import { biasCorrection, type Hyperparam, increment, mulHp, oneMinus } from '../hyperparams.js';
import { sqrtWithRoot } from '../numerics.js';
import type { GradientTransformation } from '../transform.js';
import { mapLike } from '../tree-ops.js';
import { fusedScaleByAdam } from '../fused-adam.js';
import { checkOptionKeys, optionKeys } from '../checks.js';

/**
 * Leaves up to this size go through the fused Adam kernel (one JavaScript kernel instead
 * of ~12 ops, which wins where per-op bookkeeping dominates: small leaves, and above all
 * meta-gradients). Larger leaves use the backend's vectorised ops, which are faster per
 * element: on wasm the two break even near 16K elements in a plain update, and at 512K
 * the fused kernel takes about twice as long (measured; see README "Speed").
 */
export const FUSED_ADAM_MAX_LEAF_SIZE = 16384;

/** State of the Adam family: the count and the first and second moments. */
export interface ScaleByAdamState {
  /** Updates so far (int32 scalar). */
  count: tf.Scalar;
  /** Exponential moving average of the gradients. */
  mu: unknown;
  /** Exponential moving average of the squared gradients. */
  nu: unknown;
}

/** Options of `scaleByAdam`. */
export interface ScaleByAdamOptions {
  /** Decay of the first moment (default 0.9). */
  b1?: Hyperparam;
  /** Decay of the second moment (default 0.999). */
  b2?: Hyperparam;
  /** Added to the denominator outside the square root (default 1e-8). */
  eps?: Hyperparam;
  /** Added to the second moment inside the square root (default 0). */
  epsRoot?: Hyperparam;
  /** Use Nesterov momentum (Dozat, 2016), as NAdam does (default false). */
  nesterov?: boolean;
}

/** A number as a float32 scalar tensor (made once per update, shared by all leaves). */
export function asScalar(x: Hyperparam): tf.Tensor {
  return typeof x === 'number' ? tf.scalar(x) : x;
}

/**
 * Rescales updates by Adam's bias-corrected moments: `mHat / (sqrt(vHat + epsRoot) + eps)`
 * (optax's `scale_by_adam`). The scalar bias corrections are folded so each leaf costs
 * 11 full-size ops (plus one for a folded learning rate):
 * `sqrt(v / c2 + r) + e = (sqrt(v + r c2) + e sqrt(c2)) / sqrt(c2)`.
 */
export function scaleByAdam(opts: ScaleByAdamOptions = {}): GradientTransformation<ScaleByAdamState> {
  checkOptionKeys('scaleByAdam', opts, optionKeys<ScaleByAdamOptions>({ b1: true, b2: true, eps: true, epsRoot: true, nesterov: true }));
  const { b1 = 0.9, b2 = 0.999, eps = 1e-8, epsRoot = 0, nesterov = false } = opts;
  const rootPositive = typeof epsRoot === 'number' && epsRoot > 0;
  const updateScaled = <U>(updates: U, state: ScaleByAdamState, factor: Hyperparam): [U, ScaleByAdamState] => {
    const count = increment(state.count);
    const [gs, def] = treeFlatten(updates as PyTree);
    const ms = treeLeaves(state.mu as PyTree);
    const vs = treeLeaves(state.nu as PyTree);
    if (ms.length !== gs.length || vs.length !== gs.length) {
      throw new Error(`scaleByAdam: the state has ${ms.length} moment leaves but the updates have ${gs.length}`);
    }
    // Scalars of the plain-op path, made only when some leaf needs them.
    let plain: ((g: tf.Tensor, m: tf.Tensor, v: tf.Tensor) => [tf.Tensor, tf.Tensor, tf.Tensor]) | undefined;
    const plainLeaf = () => {
      const b1t = asScalar(b1);
      const b2t = asScalar(b2);
      const c1 = asScalar(oneMinus(b1));
      const c2 = asScalar(oneMinus(b2));
      const bc1 = biasCorrection(b1, count);
      const bc2 = biasCorrection(b2, count);
      const sbc2 = tf.sqrt(bc2);
      const rootAdd = typeof epsRoot === 'number' && epsRoot === 0 ? 0 : asScalar(mulHp(epsRoot, bc2));
      const epsScaled = tf.mul(eps, sbc2);
      const root = (v: tf.Tensor) => tf.add(sqrtWithRoot(v, rootAdd, rootPositive), epsScaled);
      if (nesterov) {
        // mHat = b1 m / (1 - b1^(t+1)) + (1 - b1) g / (1 - b1^t)
        const k1 = tf.mul(tf.div(tf.mul(sbc2, b1t), biasCorrection(b1, increment(count))), factor);
        const k2 = tf.mul(tf.div(tf.mul(sbc2, c1), bc1), factor);
        return (g: tf.Tensor, m: tf.Tensor, v: tf.Tensor): [tf.Tensor, tf.Tensor, tf.Tensor] => {
          const mu = tf.add(tf.mul(m, b1t), tf.mul(g, c1));
          const nu = tf.add(tf.mul(v, b2t), tf.mul(tf.square(g), c2));
          return [tf.div(tf.add(tf.mul(mu, k1), tf.mul(g, k2)), root(nu)), mu, nu];
        };
      }
      const k = tf.mul(tf.div(sbc2, bc1), factor);
      return (g: tf.Tensor, m: tf.Tensor, v: tf.Tensor): [tf.Tensor, tf.Tensor, tf.Tensor] => {
        const mu = tf.add(tf.mul(m, b1t), tf.mul(g, c1));
        const nu = tf.add(tf.mul(v, b2t), tf.mul(tf.square(g), c2));
        return [tf.div(tf.mul(mu, k), root(nu)), mu, nu];
      };
    };
    const outs: tf.Tensor[] = [];
    const mus: tf.Tensor[] = [];
    const nus: tf.Tensor[] = [];
    // The small leaves go through one fused kernel together (fewer kernels and, in a
    // meta-gradient, fewer gradient accumulations into the shared hyperparameters).
    const small = nesterov ? [] : gs.flatMap((g, i) => (g.size <= FUSED_ADAM_MAX_LEAF_SIZE ? [i] : []));
    const together = small.length
      ? fusedScaleByAdam(
          small.map((i) => gs[i]!),
          small.map((i) => ms[i]!),
          small.map((i) => vs[i]!),
          { b1, b2, eps, epsRoot, factor, count: state.count },
        )
      : undefined;
    const fusedAt = new Map<number, [tf.Tensor, tf.Tensor, tf.Tensor]>();
    if (together) small.forEach((i, j) => fusedAt.set(i, [together[0][j]!, together[1][j]!, together[2][j]!]));
    gs.forEach((g, i) => {
      const fused = fusedAt.get(i);
      plain ??= fused ? undefined : plainLeaf();
      // A scope per leaf frees its intermediates before the next leaf allocates, so the
      // backend reuses memory that is still in cache.
      const [o, mu, nu] = fused ?? tf.tidy(() => plain!(g, ms[i]!, vs[i]!));
      outs.push(o);
      mus.push(mu);
      nus.push(nu);
    });
    return [
      treeUnflatten<tf.Tensor, U>(def, outs),
      { count, mu: treeUnflatten(def, mus), nu: treeUnflatten(def, nus) },
    ];
  };
  return {
    init: (params) => ({
      count: tf.scalar(0, 'int32'),
      mu: mapLike((p) => tf.zerosLike(p), params),
      nu: mapLike((p) => tf.zerosLike(p), params),
    }),
    update: (updates, state) => updateScaled(updates, state, 1),
    updateScaled: (updates, state, _params, factor) => updateScaled(updates, state, factor),
    elementwise: true,
  };
}
