import { type PyTree, treeFlatten, treeLeaves, treeUnflatten } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { checkOptionKeys, optionKeys } from '../checks.js';
import { type Hyperparam, increment } from '../hyperparams.js';
import type { GradientTransformation } from '../transform.js';
import { mapLike } from '../tree-ops.js';
import { adamStep, FUSED_ADAM_MAX_LEAF_SIZE } from './adam-op.js';

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
 * `scaleByAdam`'s update with its output multiplied by `factor` (a folded learning rate:
 * `Adam` passes minus the step size, saving one full-size op per leaf). The small leaves
 * go through one `adamStep` together (fewer kernels and, in a meta-gradient, fewer
 * gradient accumulations into the shared hyperparameters), the large ones through another.
 */
export function scaleByAdamUpdate<U>(
  opts: ScaleByAdamOptions,
  updates: U,
  state: ScaleByAdamState,
  factor: Hyperparam,
): [U, ScaleByAdamState] {
  const { b1 = 0.9, b2 = 0.999, eps = 1e-8, epsRoot = 0, nesterov = false } = opts;
  const [gs, def] = treeFlatten(updates as PyTree);
  const ms = treeLeaves(state.mu as PyTree);
  const vs = treeLeaves(state.nu as PyTree);
  if (ms.length !== gs.length || vs.length !== gs.length) {
    throw new Error(`scaleByAdam: the state has ${ms.length} moment leaves but the updates have ${gs.length}`);
  }
  const hp = { b1, b2, eps, epsRoot, nesterov, factor, count: state.count };
  const outs: tf.Tensor[] = new Array(gs.length);
  const mus: tf.Tensor[] = new Array(gs.length);
  const nus: tf.Tensor[] = new Array(gs.length);
  const small = gs.flatMap((g, i) => (g.size <= FUSED_ADAM_MAX_LEAF_SIZE ? [i] : []));
  const large = gs.flatMap((g, i) => (g.size > FUSED_ADAM_MAX_LEAF_SIZE ? [i] : []));
  for (const group of [small, large]) {
    if (group.length === 0) continue;
    const pick = (xs: tf.Tensor[]) => group.map((i) => xs[i]!);
    const [o, mu, nu] = adamStep(pick(gs), pick(ms), pick(vs), hp);
    group.forEach((i, j) => {
      outs[i] = o[j]!;
      mus[i] = mu[j]!;
      nus[i] = nu[j]!;
    });
  }
  return [
    treeUnflatten<tf.Tensor, U>(def, outs),
    { count: increment(state.count), mu: treeUnflatten(def, mus), nu: treeUnflatten(def, nus) },
  ];
}

/**
 * Rescales updates by Adam's bias-corrected moments: `mHat / (sqrt(vHat + epsRoot) + eps)`
 * (optax's `scale_by_adam`). The step is the `adamStep` op (a fused kernel on cpu and
 * wasm, see there).
 */
export function scaleByAdam(opts: ScaleByAdamOptions = {}): GradientTransformation<ScaleByAdamState> {
  checkOptionKeys(
    'scaleByAdam',
    opts,
    optionKeys<ScaleByAdamOptions>({ b1: true, b2: true, eps: true, epsRoot: true, nesterov: true }),
  );
  return {
    init: (params) => ({
      count: tf.scalar(0, 'int32'),
      mu: mapLike((p) => tf.zerosLike(p), params),
      nu: mapLike((p) => tf.zerosLike(p), params),
    }),
    update: (updates, state) => scaleByAdamUpdate(opts, updates, state, 1),
  };
}
