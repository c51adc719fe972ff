import {
  defineOp,
  type FusedContext,
  type FusedOutput,
  kernelRegistered,
  registerFusedKernel,
  runFusedKernel,
  stackedOp,
} from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { biasCorrection, type Hyperparam, increment, mulHp, oneMinus } from '../hyperparams.js';
import { sqrtWithRoot } from '../numerics.js';

/**
 * Adam's step over a list of leaves, as one op (`adamStep`): the plain-op reference
 * defines it; a fused kernel (with its vector-Jacobian product as a second kernel) runs
 * it on the cpu and wasm backends. Learned optimizers run Adam inside meta-gradients,
 * where each of its ~12 ops per leaf costs tfjs bookkeeping in the forward pass and again
 * (several times) in the backward pass. The kernel's math is exactly the reference's,
 * derived by hand:
 *
 *   mu = b1 m + (1 - b1) g            nu = b2 v + (1 - b2) g^2
 *   bc1 = 1 - b1^n   bc2 = 1 - b2^n   (n = count + 1)
 *   r = sqrt(max(nu + epsRoot bc2, tiny))
 *   out = factor (sqrt(bc2) / bc1) mu / (r + eps sqrt(bc2))
 */

// One kernel pair per leaf count: tfjs saves inputs for a gradient by a fixed list of names.
const FORWARD = (n: number) => `LoptScaleByAdam${n}`;
const VJP = (n: number) => `LoptScaleByAdamVjp${n}`;
/** The smallest normal float32: the floor under the square root, as `sqrtWithRoot` clips. */
const TINY = 1.1754943508222875e-38;

interface Scalars {
  b1: number;
  b2: number;
  eps: number;
  epsRoot: number;
  factor: number;
  n: number;
  bc1: number;
  bc2: number;
  sbc2: number;
  k: number;
  epsScaled: number;
  rootAdd: number;
}

/** The step's scalars of problem `q` (hyperparameter inputs hold one value, or one per problem). */
function scalars(ctx: FusedContext, q = 0): Scalars {
  const s = (name: string) => {
    const x = ctx.input(name);
    return x[x.length === 1 ? 0 : q]!;
  };
  const b1 = s('b1');
  const b2 = s('b2');
  const eps = s('eps');
  const epsRoot = s('epsRoot');
  const factor = s('factor');
  const n = s('count') + 1;
  // 1 - b^n; the expm1 form is the more accurate one, pow covers a decay learned to <= 0.
  const bc = (b: number) => (b > 0 ? -Math.expm1(n * Math.log(b)) : 1 - b ** n);
  const bc1 = bc(b1);
  const bc2 = bc(b2);
  const sbc2 = Math.sqrt(bc2);
  return {
    b1,
    b2,
    eps,
    epsRoot,
    factor,
    n,
    bc1,
    bc2,
    sbc2,
    k: (sbc2 / bc1) * factor,
    epsScaled: eps * sbc2,
    rootAdd: epsRoot * bc2,
  };
}

function forwardBody(ctx: FusedContext, attrs: tf.NamedAttrMap): FusedOutput[] {
  // K problems stacked on a leading axis (`stackedAdamStep`'s kernel), each with its own
  // hyperparameters; one problem without that axis. Problem q runs exactly the
  // single-problem arithmetic on its slice of every leaf.
  const K = (attrs.problems as number | undefined) ?? 1;
  const cs = Array.from({ length: K }, (_, q) => scalars(ctx, q));
  const outs: FusedOutput[] = [];
  const mus: FusedOutput[] = [];
  const nus: FusedOutput[] = [];
  for (let leaf = 0; leaf < (attrs.leaves as number); leaf++) {
    const g = ctx.input(`g${leaf}`) as Float32Array;
    const m = ctx.input(`m${leaf}`) as Float32Array;
    const v = ctx.input(`v${leaf}`) as Float32Array;
    const shape = ctx.shape(`g${leaf}`);
    const out = new Float32Array(g.length);
    const mu = new Float32Array(g.length);
    const nu = new Float32Array(g.length);
    const size = g.length / K;
    for (let q = 0; q < K; q++) {
      const c = cs[q]!;
      for (let i = q * size; i < (q + 1) * size; i++) {
        const gi = g[i]!;
        const mi = c.b1 * m[i]! + (1 - c.b1) * gi;
        const ni = c.b2 * v[i]! + (1 - c.b2) * gi * gi;
        mu[i] = mi;
        nu[i] = ni;
        out[i] = (c.k * Math.fround(mi)) / (Math.sqrt(Math.max(Math.fround(ni) + c.rootAdd, TINY)) + c.epsScaled);
      }
    }
    outs.push({ values: out, shape });
    mus.push({ values: mu, shape });
    nus.push({ values: nu, shape });
  }
  return [...outs, ...mus, ...nus];
}

/** Cotangent sums of Adam's step scalars, which {@link adamLeafVjp} adds to leaf by leaf. */
export interface AdamScalarCotangents {
  /** Of `k = factor * sqrt(bc2) / bc1`, the step's scale. */
  dk: number;
  /** Of `epsScaled = eps * sqrt(bc2)`. */
  dEpsScaled: number;
  /** Of `rootAdd = epsRoot * bc2`. */
  dRootAdd: number;
  /** Of `b1` through the moment update (not yet through the bias correction). */
  db1: number;
  /** Of `b2` through the moment update (not yet through the bias correction). */
  db2: number;
}

/**
 * The VJP of one leaf of Adam's step `out = k m' / (sqrt(v' + rootAdd) + epsScaled)`,
 * `m' = b1 m + (1 - b1) g`, `v' = b2 v + (1 - b2) g^2`, in float32 as the fused kernel
 * computes it: given the cotangents of `out`, `m'` and `v'`, returns those of `g`, `m` and
 * `v`, and adds the leaf's share of the scalars' cotangents to `acc`. Shared by the fused
 * Adam kernel's VJP and by kernels that run Adam steps inside a larger fused op.
 */
export function adamLeafVjp(
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  dOut: Float32Array,
  dMu: Float32Array,
  dNu: Float32Array,
  c: { b1: number; b2: number; k: number; rootAdd: number; epsScaled: number },
  acc: AdamScalarCotangents,
): { dg: Float32Array; dm: Float32Array; dv: Float32Array } {
  const n = g.length;
  const dg = new Float32Array(n);
  const dm = new Float32Array(n);
  const dv = new Float32Array(n);
  // Continuing acc's sums (not adding a leaf total to them) keeps the float order of the sums.
  const sums = vjpSums;
  sums[0] = acc.dk;
  sums[1] = acc.dEpsScaled;
  sums[2] = acc.dRootAdd;
  sums[3] = acc.db1;
  sums[4] = acc.db2;
  adamLeafVjpLoop(g, m, v, dOut, dMu, dNu, dg, dm, dv, c.b1, c.b2, c.k, c.rootAdd, c.epsScaled, sums);
  acc.dk = sums[0]!;
  acc.dEpsScaled = sums[1]!;
  acc.dRootAdd = sums[2]!;
  acc.db1 = sums[3]!;
  acc.db2 = sums[4]!;
  return { dg, dm, dv };
}

/** The running sums `[dk, dEpsScaled, dRootAdd, db1, db2]` handed to {@link adamLeafVjpLoop}. */
const vjpSums = new Float64Array(5);

/**
 * The loop of {@link adamLeafVjp}, in a function of its own that reads no object
 * properties: V8 compiles the long loop on the stack (OSR) while it first runs, before
 * the property accesses around it have run, and that code kept deoptimising at them on
 * every later call instead of being replaced. Scalars come as arguments, the sums in and out through `sums`.
 */
function adamLeafVjpLoop(
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  dOut: Float32Array,
  dMu: Float32Array,
  dNu: Float32Array,
  dg: Float32Array,
  dm: Float32Array,
  dv: Float32Array,
  b1: number,
  b2: number,
  k: number,
  rootAdd: number,
  epsScaled: number,
  sums: Float64Array,
): void {
  const n = g.length;
  const c1 = 1 - b1;
  const c2 = 1 - b2;
  let dk = sums[0]!;
  let dEps = sums[1]!;
  let dRoot = sums[2]!;
  let db1 = sums[3]!;
  let db2 = sums[4]!;
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    const m0 = m[i]!;
    const v0 = v[i]!;
    const mi = Math.fround(b1 * m0 + c1 * gi);
    const ni = Math.fround(b2 * v0 + c2 * gi * gi);
    const y = ni + rootAdd;
    const r = Math.sqrt(Math.max(y, TINY));
    const den = r + epsScaled;
    const o = dOut[i]!;
    const dmu = dMu[i]! + (o * k) / den;
    dk += (o * mi) / den;
    const dden = (-o * k * mi) / (den * den);
    dEps += dden;
    // The floor under the square root passes no gradient (as a clip does).
    const dy = y >= TINY ? (dden * 0.5) / r : 0;
    dRoot += dy;
    const dnu = dNu[i]! + dy;
    dm[i] = dmu * b1;
    dv[i] = dnu * b2;
    dg[i] = dmu * c1 + dnu * c2 * 2 * gi;
    db1 += dmu * (m0 - gi);
    db2 += dnu * (v0 - gi * gi);
  }
  sums[0] = dk;
  sums[1] = dEps;
  sums[2] = dRoot;
  sums[3] = db1;
  sums[4] = db2;
}

function vjpBody(ctx: FusedContext, attrs: tf.NamedAttrMap): FusedOutput[] {
  const c = scalars(ctx);
  const dgs: FusedOutput[] = [];
  const dms: FusedOutput[] = [];
  const dvs: FusedOutput[] = [];
  const acc: AdamScalarCotangents = { dk: 0, dEpsScaled: 0, dRootAdd: 0, db1: 0, db2: 0 };
  for (let leaf = 0; leaf < (attrs.leaves as number); leaf++) {
    const g = ctx.input(`g${leaf}`) as Float32Array;
    const m = ctx.input(`m${leaf}`) as Float32Array;
    const v = ctx.input(`v${leaf}`) as Float32Array;
    const dOut = ctx.input(`dOut${leaf}`) as Float32Array;
    const dMu = ctx.input(`dMu${leaf}`) as Float32Array;
    const dNu = ctx.input(`dNu${leaf}`) as Float32Array;
    const shape = ctx.shape(`g${leaf}`);
    const { dg, dm, dv } = adamLeafVjp(g, m, v, dOut, dMu, dNu, c, acc);
    dgs.push({ values: dg, shape });
    dms.push({ values: dm, shape });
    dvs.push({ values: dv, shape });
  }
  const { dk, dEpsScaled, dRootAdd } = acc;
  let { db1, db2 } = acc;
  // Through the scalar bias corrections: k = factor sbc2 / bc1, epsScaled = eps sbc2,
  // rootAdd = epsRoot bc2, sbc2 = sqrt(bc2), bc = 1 - b^n.
  const dFactor = (dk * c.sbc2) / c.bc1;
  const dSbc2 = (dk * c.factor) / c.bc1 + dEpsScaled * c.eps;
  const dBc1 = (-dk * c.factor * c.sbc2) / (c.bc1 * c.bc1);
  const dBc2 = dRootAdd * c.epsRoot + (dSbc2 * 0.5) / c.sbc2;
  db1 += dBc1 * -c.n * c.b1 ** (c.n - 1);
  db2 += dBc2 * -c.n * c.b2 ** (c.n - 1);
  const scalar = (x: number): FusedOutput => ({ values: Float32Array.of(x), shape: [] });
  return [
    ...dgs,
    ...dms,
    ...dvs,
    scalar(db1),
    scalar(db2),
    scalar(dEpsScaled * c.sbc2),
    scalar(dRootAdd * c.bc2),
    scalar(dFactor),
  ];
}

const SCALARS = ['b1', 'b2', 'eps', 'epsRoot', 'factor', 'count'];
const registered = new Set<number>();

/** Registers the kernels and the gradient for `n` leaves (once). */
function ensureKernels(n: number): void {
  if (registered.has(n)) return;
  registered.add(n);
  registerFusedKernel(FORWARD(n), forwardBody);
  registerFusedKernel(VJP(n), vjpBody);
  const names: string[] = [];
  for (const slot of ['g', 'm', 'v']) for (let i = 0; i < n; i++) names.push(`${slot}${i}`);
  names.push(...SCALARS);
  tf.registerGradient({
    kernelName: FORWARD(n),
    inputsToSave: names,
    gradFunc: (dys, saved, attrs) => {
      const d = dys as tf.Tensor[];
      const inputs: Record<string, tf.Tensor> = {};
      names.forEach((name, i) => {
        inputs[name] = saved[i]!;
      });
      for (let i = 0; i < n; i++) {
        inputs[`dOut${i}`] = d[i]!;
        inputs[`dMu${i}`] = d[n + i]!;
        inputs[`dNu${i}`] = d[2 * n + i]!;
      }
      // Computed once for all inputs: one kernel gives every cotangent.
      const outs = runFusedKernel(VJP(n), inputs, attrs);
      const grads: Record<string, () => tf.Tensor> = {};
      ['g', 'm', 'v'].forEach((slot, s) => {
        for (let i = 0; i < n; i++) grads[`${slot}${i}`] = () => outs[s * n + i]!;
      });
      ['b1', 'b2', 'eps', 'epsRoot', 'factor'].forEach((name, j) => {
        grads[name] = () => outs[3 * n + j]!;
      });
      grads.count = () => tf.zeros(saved[names.length - 1]!.shape);
      return grads;
    },
  });
}

const asTensor = (x: Hyperparam): tf.Tensor => (typeof x === 'number' ? tf.scalar(x) : x);

/**
 * Leaves up to this size go through the fused Adam kernel (one JavaScript kernel instead
 * of ~12 ops, which wins where per-op bookkeeping dominates: small leaves, and above all
 * meta-gradients). Larger leaves use the backend's vectorised ops, which are faster per
 * element: on wasm the two break even near 16K elements in a plain update, and at 512K
 * the fused kernel takes about twice as long (measured; see README "Speed").
 */
export const FUSED_ADAM_MAX_LEAF_SIZE = 16384;

/** Hyperparameters of `adamStep`. */
export interface AdamStepHyperparams {
  b1: Hyperparam;
  b2: Hyperparam;
  eps: Hyperparam;
  epsRoot: Hyperparam;
  /** Nesterov momentum (Dozat, 2016), as NAdam does. */
  nesterov: boolean;
  /** The output is multiplied by this (a folded learning rate; 1 for `scaleByAdam`). */
  factor: Hyperparam;
  /** Updates so far, before this one (int32 scalar). */
  count: tf.Tensor;
}

/** The step's outputs: the updates, the new first moments and second moments, in leaf order. */
export type AdamStepOutputs = [tf.Tensor[], tf.Tensor[], tf.Tensor[]];

/**
 * The reference: `mHat / (sqrt(vHat + epsRoot) + eps)` times `factor`, with the scalar bias
 * corrections folded so each leaf costs 11 full-size ops:
 * `sqrt(v / c2 + r) + e = (sqrt(v + r c2) + e sqrt(c2)) / sqrt(c2)`.
 */
function adamStepReference(
  g: readonly tf.Tensor[],
  m: readonly tf.Tensor[],
  v: readonly tf.Tensor[],
  hp: AdamStepHyperparams,
): AdamStepOutputs {
  const { b1, b2, eps, epsRoot, nesterov, factor } = hp;
  const count = increment(hp.count);
  const rootPositive = typeof epsRoot === 'number' && epsRoot > 0;
  const b1t = asTensor(b1);
  const b2t = asTensor(b2);
  const c1 = asTensor(oneMinus(b1));
  const c2 = asTensor(oneMinus(b2));
  const bc1 = biasCorrection(b1, count);
  const bc2 = biasCorrection(b2, count);
  const sbc2 = tf.sqrt(bc2);
  const rootAdd = typeof epsRoot === 'number' && epsRoot === 0 ? 0 : asTensor(mulHp(epsRoot, bc2));
  const epsScaled = tf.mul(eps, sbc2);
  const root = (x: tf.Tensor) => tf.add(sqrtWithRoot(x, rootAdd, rootPositive), epsScaled);
  let leaf: (g: tf.Tensor, m: tf.Tensor, v: tf.Tensor) => [tf.Tensor, tf.Tensor, tf.Tensor];
  if (nesterov) {
    // mHat = b1 m / (1 - b1^(t+1)) + (1 - b1) g / (1 - b1^t)
    const k1 = tf.mul(tf.div(tf.mul(sbc2, b1t), biasCorrection(b1, increment(count))), factor);
    const k2 = tf.mul(tf.div(tf.mul(sbc2, c1), bc1), factor);
    leaf = (gi, mi, vi) => {
      const mu = tf.add(tf.mul(mi, b1t), tf.mul(gi, c1));
      const nu = tf.add(tf.mul(vi, b2t), tf.mul(tf.square(gi), c2));
      return [tf.div(tf.add(tf.mul(mu, k1), tf.mul(gi, k2)), root(nu)), mu, nu];
    };
  } else {
    const k = tf.mul(tf.div(sbc2, bc1), factor);
    leaf = (gi, mi, vi) => {
      const mu = tf.add(tf.mul(mi, b1t), tf.mul(gi, c1));
      const nu = tf.add(tf.mul(vi, b2t), tf.mul(tf.square(gi), c2));
      return [tf.div(tf.mul(mu, k), root(nu)), mu, nu];
    };
  }
  const out: AdamStepOutputs = [[], [], []];
  g.forEach((gi, i) => {
    // A scope per leaf frees its intermediates before the next leaf allocates, so the
    // backend reuses memory that is still in cache.
    const [o, mu, nu] = tf.tidy(() => leaf(gi, m[i]!, v[i]!));
    out[0].push(o);
    out[1].push(mu);
    out[2].push(nu);
  });
  return out;
}

/**
 * The fused kernel over all leaves at once, for one problem or (`problems`) K problems
 * stacked on a leading axis; `undefined` when it is not registered here.
 */
function runAdamStepKernel(
  g: readonly tf.Tensor[],
  m: readonly tf.Tensor[],
  v: readonly tf.Tensor[],
  hp: AdamStepHyperparams,
  problems?: number,
): AdamStepOutputs | undefined {
  const n = g.length;
  ensureKernels(n);
  if (!kernelRegistered(FORWARD(n))) return undefined;
  const inputs: Record<string, tf.Tensor> = {};
  for (let i = 0; i < n; i++) {
    inputs[`g${i}`] = g[i]!;
    inputs[`m${i}`] = m[i]!;
    inputs[`v${i}`] = v[i]!;
  }
  inputs.b1 = asTensor(hp.b1);
  inputs.b2 = asTensor(hp.b2);
  inputs.eps = asTensor(hp.eps);
  inputs.epsRoot = asTensor(hp.epsRoot);
  inputs.factor = asTensor(hp.factor);
  inputs.count = hp.count;
  const outs = runFusedKernel(FORWARD(n), inputs, problems === undefined ? { leaves: n } : { leaves: n, problems });
  return [outs.slice(0, n), outs.slice(n, 2 * n), outs.slice(2 * n)];
}

/** The fused kernel over all leaves of one problem. */
function adamStepKernel(
  g: readonly tf.Tensor[],
  m: readonly tf.Tensor[],
  v: readonly tf.Tensor[],
  hp: AdamStepHyperparams,
): AdamStepOutputs | undefined {
  return runAdamStepKernel(g, m, v, hp);
}

/**
 * The fused kernel for K problems' leaves stacked on a leading axis, each problem with
 * its own hyperparameters (`[K]` tensors or shared numbers): one kernel call for all K
 * problems.
 */
function stackedAdamStepKernel(
  g: readonly tf.Tensor[],
  m: readonly tf.Tensor[],
  v: readonly tf.Tensor[],
  hp: AdamStepHyperparams,
): AdamStepOutputs | undefined {
  return runAdamStepKernel(g, m, v, hp, g[0]!.shape[0]!);
}

/** True when every hyperparameter is one value or one per problem (`[K]`, or a scalar). */
const perProblemHyperparams = (hp: AdamStepHyperparams, K: number) =>
  [hp.b1, hp.b2, hp.eps, hp.epsRoot, hp.factor, hp.count].every(
    (x) => typeof x === 'number' || x.size === 1 || (x.rank === 1 && x.shape[0] === K),
  );

/**
 * Adam's step over the leaves `g` (gradients) with moments `m`, `v`: returns the updates
 * (times `hp.factor`) and the new moments. The fused kernel (one for all leaves, with a
 * VJP kernel, so meta-gradients flow through it) runs on cpu and wasm when the step is
 * not Nesterov, every tensor is float32, every leaf has at most
 * `FUSED_ADAM_MAX_LEAF_SIZE` elements, and at most one gradient tape records (second
 * derivatives through Adam run the reference); the reference runs otherwise.
 */
export const adamStep = defineOp<
  [readonly tf.Tensor[], readonly tf.Tensor[], readonly tf.Tensor[], AdamStepHyperparams],
  AdamStepOutputs
>({
  name: 'adamStep',
  reference: adamStepReference,
  kernel: adamStepKernel,
  // The VJP is a second kernel without a gradient: second derivatives use the reference.
  vjpOrder: 1,
  applies: (g, m, v, hp) =>
    !hp.nesterov &&
    g.length > 0 &&
    m.length === g.length &&
    v.length === g.length &&
    [...g, ...m, ...v].every((t) => t.dtype === 'float32' && t.size <= FUSED_ADAM_MAX_LEAF_SIZE),
});

/**
 * Hyperparameters of `stackedAdamStep`: those of `adamStep` with one value per problem,
 * `[K]` tensors (or numbers shared by every problem), and the K problems' counts `[K]`.
 */
export type StackedAdamStepHyperparams = AdamStepHyperparams;

/** Problem k's value of a per-problem hyperparameter (`[K]` tensor or shared number). */
const hpAt = (x: Hyperparam, k: number): Hyperparam =>
  typeof x === 'number' ? x : x.rank === 0 ? x : tf.reshape(tf.slice(x, [k], [1]), []);

/** A per-problem hyperparameter shaped `[K, 1, ...]` to broadcast over leaves of `rank`. */
const hpBroadcast = (x: Hyperparam, rank: number): Hyperparam =>
  typeof x === 'number' || x.rank === 0 ? x : tf.reshape(x, [-1, ...Array(rank - 1).fill(1)]);

type AdamStepArgs = [readonly tf.Tensor[], readonly tf.Tensor[], readonly tf.Tensor[], AdamStepHyperparams];

/**
 * Adam's step for K problems at once (`adamStep` derived over a leading axis by
 * `stackedOp`, not a copy of its math): leaves `[K, ...]` of one rank, problem k with
 * the hyperparameters' k-th values. It runs `adamStep`'s reference once over all K
 * problems, the per-problem hyperparameters broadcast over each problem's block, so
 * its values and derivatives are those of K separate `adamStep` calls.
 *
 * Its fast path, where no gradient tape records, is `adamStep`'s fused kernel's
 * arithmetic for all K problems in one call (each problem with its own scalars, on its
 * slice of every leaf): no per-problem slices or stacks (which made `adamStep`'s kernel
 * once per problem slower than the broadcast reference at PES's K = 8). Under a tape the
 * broadcast reference runs. Measured in one process, wasm, loaded 2-core machine, CPU
 * time of a PES outer step of LearnableAdam with 8 problems (20 inner steps): ~5,700 ops
 * and 270-400 ms with the broadcast reference and per-problem states, ~3,900 ops with
 * stacked states, and ~1,000 fewer ops again with this kernel (noisy).
 */
export const stackedAdamStep = stackedOp<AdamStepArgs, AdamStepOutputs, AdamStepArgs, AdamStepOutputs>(adamStep, {
  name: 'adamStep.stacked',
  split: (g, m, v, hp) => {
    const K = g[0]?.shape[0] ?? 0;
    const slice = (xs: readonly tf.Tensor[], k: number) =>
      xs.map((x) => tf.reshape(tf.slice(x, [k], [1]), x.shape.slice(1)));
    return Array.from(
      { length: K },
      (_, k): AdamStepArgs => [
        slice(g, k),
        slice(m, k),
        slice(v, k),
        {
          ...hp,
          b1: hpAt(hp.b1, k),
          b2: hpAt(hp.b2, k),
          eps: hpAt(hp.eps, k),
          epsRoot: hpAt(hp.epsRoot, k),
          factor: hpAt(hp.factor, k),
          count: hpAt(hp.count, k) as tf.Tensor,
        },
      ],
    );
  },
  stack: (rs) => [0, 1, 2].map((j) => rs[0]![j]!.map((_, i) => tf.stack(rs.map((r) => r[j]![i]!)))) as AdamStepOutputs,
  broadcast: {
    args: (g, m, v, hp) => {
      const rank = g[0]?.rank ?? 1;
      if (!g.every((x) => x.rank === rank)) {
        throw new Error('stackedAdamStep: every leaf must have the same rank (group the leaves by rank)');
      }
      const b = (x: Hyperparam) => hpBroadcast(x, rank);
      const out: AdamStepArgs = [
        g,
        m,
        v,
        {
          ...hp,
          b1: b(hp.b1),
          b2: b(hp.b2),
          eps: b(hp.eps),
          epsRoot: b(hp.epsRoot),
          factor: b(hp.factor),
          count: b(hp.count) as tf.Tensor,
        },
      ];
      return out;
    },
    result: (r) => r,
  },
  kernel: {
    run: stackedAdamStepKernel,
    applies: (g, m, v, hp) =>
      !hp.nesterov &&
      g.length > 0 &&
      g[0]!.rank > 0 &&
      m.length === g.length &&
      v.length === g.length &&
      perProblemHyperparams(hp, g[0]!.shape[0]!) &&
      [...g, ...m, ...v].every(
        (t) =>
          t.dtype === 'float32' &&
          t.rank > 0 &&
          t.shape[0] === g[0]!.shape[0] &&
          t.size / t.shape[0]! <= FUSED_ADAM_MAX_LEAF_SIZE,
      ),
    // No VJP for K problems: under a tape the broadcast reference runs.
    vjpOrder: 0,
  },
});
