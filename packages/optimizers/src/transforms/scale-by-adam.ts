import * as tf from '@tensorflow/tfjs-core';
import { type PyTree, treeFlatten, treeLeaves, treeUnflatten } from '@lopt/pytree';
import { biasCorrection, type Hyperparam, increment, mulHp, oneMinus } from '../hyperparams.js';
import { sqrtWithRoot } from '../numerics.js';
import type { GradientTransformation } from '../transform.js';
import { mapLike } from '../tree-ops.js';
import { fusedScaleByAdamLeaf } from '../fused-adam.js';

/**
 * All leaves through the fused Adam kernel (one kernel per leaf instead of ~12 ops), or
 * `undefined` where fused kernels do not apply; the plain ops below define the math.
 */
function fusedUpdate<U>(
  updates: U,
  state: ScaleByAdamState,
  hp: { b1: Hyperparam; b2: Hyperparam; eps: Hyperparam; epsRoot: Hyperparam; factor: Hyperparam },
): [U, ScaleByAdamState] | undefined {
  const [g, def] = treeFlatten(updates as PyTree);
  const m = treeLeaves(state.mu as PyTree);
  const v = treeLeaves(state.nu as PyTree);
  if (g.some((x) => !(x instanceof tf.Tensor) || x.dtype !== 'float32') || m.length !== g.length || v.length !== g.length) {
    return undefined;
  }
  const outs: tf.Tensor[] = [];
  const mus: tf.Tensor[] = [];
  const nus: tf.Tensor[] = [];
  for (let i = 0; i < g.length; i++) {
    const r = fusedScaleByAdamLeaf(g[i]!, m[i]!, v[i]!, { ...hp, count: state.count });
    if (!r) return undefined;
    outs.push(r[0]);
    mus.push(r[1]);
    nus.push(r[2]);
  }
  return [
    treeUnflatten<tf.Tensor, U>(def, outs),
    { count: increment(state.count), mu: treeUnflatten(def, mus), nu: treeUnflatten(def, nus) },
  ];
}

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
  const { b1 = 0.9, b2 = 0.999, eps = 1e-8, epsRoot = 0, nesterov = false } = opts;
  const rootPositive = typeof epsRoot === 'number' && epsRoot > 0;
  const updateScaled = <U>(updates: U, state: ScaleByAdamState, factor: Hyperparam): [U, ScaleByAdamState] => {
    if (!nesterov) {
      const fused = fusedUpdate(updates, state, { b1, b2, eps, epsRoot, factor });
      if (fused) return fused;
    }
    const count = increment(state.count);
    const b1t = asScalar(b1);
    const b2t = asScalar(b2);
    const c1 = asScalar(oneMinus(b1));
    const c2 = asScalar(oneMinus(b2));
    const mu = mapLike((g, m) => tf.add(tf.mul(m, b1t), tf.mul(g, c1)), updates, state.mu);
    const nu = mapLike((g, v) => tf.add(tf.mul(v, b2t), tf.mul(tf.square(g), c2)), updates, state.nu);
    const bc1 = biasCorrection(b1, count);
    const bc2 = biasCorrection(b2, count);
    const sbc2 = tf.sqrt(bc2);
    const rootAdd = typeof epsRoot === 'number' && epsRoot === 0 ? 0 : asScalar(mulHp(epsRoot, bc2));
    const epsScaled = tf.mul(eps, sbc2);
    const root = (v: tf.Tensor) => tf.add(sqrtWithRoot(v, rootAdd, rootPositive), epsScaled);
    let out: U;
    if (nesterov) {
      // mHat = b1 m / (1 - b1^(t+1)) + (1 - b1) g / (1 - b1^t)
      const k1 = tf.mul(tf.div(tf.mul(sbc2, b1t), biasCorrection(b1, increment(count))), factor);
      const k2 = tf.mul(tf.div(tf.mul(sbc2, c1), bc1), factor);
      out = mapLike((m, v, g) => tf.div(tf.add(tf.mul(m, k1), tf.mul(g, k2)), root(v)), mu, nu, updates);
    } else {
      const k = tf.mul(tf.div(sbc2, bc1), factor);
      out = mapLike((m, v) => tf.div(tf.mul(m, k), root(v)), mu, nu);
    }
    return [out, { count, mu, nu }];
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
