import { LearnableAdam, type LearnableAdamTheta, type LearnedOptimizer } from '@lopt/learned';
import { type AdamScalarCotangents, adamLeafVjp, type OptState } from '@lopt/optimizers';
import {
  defineOp,
  type FusedContext,
  type FusedOutput,
  kernelRegistered,
  type Mat,
  type PRNGKey,
  registerFusedKernel,
  runFusedKernel,
  sharingTransposes,
  valueAndGrad,
} from '@lopt/pytree';
import {
  checkParamShapes,
  ImageMLPTask,
  type MLPParams,
  type MlpBackward,
  type MlpForward,
  mlpKernelMath,
  type Task,
} from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';

/**
 * The unrolled meta-loss as one op (`unrolledMetaLoss`): `steps` inner training steps of
 * `lopt.optFn(theta)` from `params`, then the task's loss. The plain-op reference is the
 * loop every learned optimizer and task runs (the task's loss and gradient, the
 * optimizer's update, step by step). For `LearnableAdam` on a softmax cross-entropy
 * image MLP the whole unroll is one fused kernel, and its vector-Jacobian product (the
 * meta-gradient, reverse mode through every Adam step and every inner gradient by
 * Hessian-vector products) a second: a meta-iteration then costs tfjs two kernels'
 * bookkeeping instead of about two hundred. The math is the reference's, derived by hand:
 *
 *   lr = exp(logLr), b1 = 1 - exp(oneMinusBeta1), b2 = 1 - exp(oneMinusBeta2), eps = exp(logEpsilon)
 *   step t = 1..T:  g = grad L(p)
 *     mu = b1 mu + (1 - b1) g    nu = b2 nu + (1 - b2) g^2
 *     bc1 = 1 - b1^t   bc2 = 1 - b2^t
 *     p += -lr (sqrt(bc2) / bc1) mu / (sqrt(max(nu + epsRoot bc2, tiny)) + eps sqrt(bc2))
 *   meta-loss = L(p)
 */

/** The arguments of the op: the optimizer and task, theta, initial params, keys and batch. */
export type UnrollArgs<Theta, P, D> = [
  lopt: LearnedOptimizer<Theta>,
  task: Task<P, D>,
  theta: Theta,
  params: P,
  stepKeys: readonly PRNGKey[],
  finalKey: PRNGKey,
  batch: D,
];

/** The smallest normal float32: the floor under Adam's square root (as `adamStep`). */
const TINY = 1.1754943508222875e-38;
/** `LearnableAdam`'s `epsRoot`. */
const EPS_ROOT = 1e-8;
const THETA_NAMES = ['logLr', 'oneMinusBeta1', 'oneMinusBeta2', 'logEpsilon'] as const;

const FORWARD = (layers: number) => `LoptLearnableAdamMlpUnroll${layers}`;
const VJP = (layers: number) => `LoptLearnableAdamMlpUnrollVjp${layers}`;

type ActName = 'relu' | 'tanh';
/** An image batch as the MLP tasks take it. */
interface Batch {
  image: tf.Tensor;
  label: tf.Tensor;
}

const mat = (data: Float32Array, rows: number, cols: number): Mat => ({ data, rows, cols });

/** The hyperparameters of theta, rounded to float32 as the reference's ops compute them. */
interface Hyper {
  lr: number;
  e1: number;
  e2: number;
  b1: number;
  b2: number;
  eps: number;
}

/** The scalars of Adam's step t (bias corrections folded as in `adamStep`). */
interface StepScalars {
  n: number;
  bc1: number;
  bc2: number;
  sbc2: number;
  factor: number;
  k: number;
  epsScaled: number;
  rootAdd: number;
}

function hyper(ctx: FusedContext): Hyper {
  const f = Math.fround;
  const s = (name: string) => ctx.input(name)[0]!;
  const e1 = f(Math.exp(s('oneMinusBeta1')));
  const e2 = f(Math.exp(s('oneMinusBeta2')));
  return {
    lr: f(Math.exp(s('logLr'))),
    e1,
    e2,
    b1: f(1 - e1),
    b2: f(1 - e2),
    eps: f(Math.exp(s('logEpsilon'))),
  };
}

function stepScalars(h: Hyper, n: number): StepScalars {
  // 1 - b^n; the expm1 form is the more accurate one, pow covers a decay learned to <= 0.
  const bc = (b: number) => (b > 0 ? -Math.expm1(n * Math.log(b)) : 1 - b ** n);
  const bc1 = bc(h.b1);
  const bc2 = bc(h.b2);
  const sbc2 = Math.sqrt(bc2);
  const factor = -h.lr;
  return { n, bc1, bc2, sbc2, factor, k: (sbc2 / bc1) * factor, epsScaled: h.eps * sbc2, rootAdd: EPS_ROOT * bc2 };
}

/** Parameters as leaves `[w0, b0, w1, b1, ...]` and the weights as matrices. */
interface Params {
  leaves: Float32Array[];
  w: Mat[];
  b: Float32Array[];
}

function asParams(leaves: Float32Array[], shapes: number[][]): Params {
  const L = leaves.length / 2;
  const w: Mat[] = [];
  const b: Float32Array[] = [];
  for (let l = 0; l < L; l++) {
    w.push(mat(leaves[2 * l]!, shapes[l]![0]!, shapes[l]![1]!));
    b.push(leaves[2 * l + 1]!);
  }
  return { leaves, w, b };
}

/** One inner step as the VJP needs it: params before, their passes, moments before. */
interface StepRecord {
  p: Params;
  f: MlpForward;
  g: MlpBackward;
  grads: Float32Array[];
  m: Float32Array[];
  v: Float32Array[];
  sc: StepScalars;
}

interface Trajectory {
  keys: readonly (Float32Array | Int32Array)[];
  act: ActName;
  steps: StepRecord[];
  final: MlpForward & { labels: Int32Array };
  finalParams: Params;
  /** Transposes of the recorded matrices, made by the unroll and reused by its VJP. */
  transposes: WeakMap<Mat, Mat>;
}

/**
 * The trajectories of recent forward calls, keyed by the identity of their input arrays
 * (inputs are read once per tensor and tfjs data never changes): the VJP of a meta-loss
 * runs on the same inputs, so it replays the recorded unroll instead of recomputing it.
 */
const MEMO_SIZE = 2;
const memo: Trajectory[] = [];

function inputKeys(ctx: FusedContext, L: number): (Float32Array | Int32Array)[] {
  const keys: (Float32Array | Int32Array)[] = [ctx.input('x'), ctx.input('labels')];
  for (const n of THETA_NAMES) keys.push(ctx.input(n));
  for (let l = 0; l < L; l++) keys.push(ctx.input(`w${l}`), ctx.input(`b${l}`));
  return keys;
}

function unroll(kernelCtx: FusedContext, attrs: tf.NamedAttrMap): Trajectory {
  const L = attrs.numLayers as number;
  const act = attrs.activation as ActName;
  const T = attrs.steps as number;
  const keys = inputKeys(kernelCtx, L);
  const hit = memo.find((e) => e.act === act && e.steps.length === T && e.keys.every((k, i) => k === keys[i]));
  if (hit) return hit;
  const transposes = new WeakMap<Mat, Mat>();
  const ctx = sharingTransposes(kernelCtx, transposes);
  const xShape = ctx.shape('x');
  const x = mat(
    keys[0] as Float32Array,
    xShape[0]!,
    xShape.slice(1).reduce((n, d) => n * d, 1),
  );
  const labels = keys[1] as Int32Array;
  const shapes = Array.from({ length: L }, (_, l) => ctx.shape(`w${l}`));
  const h = hyper(ctx);
  let p = asParams(keys.slice(2 + THETA_NAMES.length) as Float32Array[], shapes);
  let m: Float32Array[] = p.leaves.map((a) => new Float32Array(a.length));
  let v: Float32Array[] = p.leaves.map((a) => new Float32Array(a.length));
  const steps: StepRecord[] = [];
  for (let t = 1; t <= T; t++) {
    const f = mlpKernelMath.forward(ctx, x, labels, p.w, p.b, act);
    const g = mlpKernelMath.backward(ctx, f, p.w, act);
    const grads: Float32Array[] = [];
    for (let l = 0; l < L; l++) grads.push(g.gw[l]!, g.gb[l]!);
    const sc = stepScalars(h, t);
    // The step's scalars in locals: the loop below is the unroll's hottest.
    const { b1, b2 } = h;
    const { k, rootAdd, epsScaled } = sc;
    const c1 = 1 - b1;
    const c2 = 1 - b2;
    const next: Float32Array[] = [];
    const mNext: Float32Array[] = [];
    const vNext: Float32Array[] = [];
    p.leaves.forEach((pj, j) => {
      const gj = grads[j]!;
      const mj = m[j]!;
      const vj = v[j]!;
      const n = pj.length;
      const pn = new Float32Array(n);
      const mn = new Float32Array(n);
      const vn = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const gi = gj[i]!;
        const mi = Math.fround(b1 * mj[i]! + c1 * gi);
        const ni = Math.fround(b2 * vj[i]! + c2 * gi * gi);
        mn[i] = mi;
        vn[i] = ni;
        const u = Math.fround((k * mi) / (Math.sqrt(Math.max(ni + rootAdd, TINY)) + epsScaled));
        pn[i] = pj[i]! + u;
      }
      next.push(pn);
      mNext.push(mn);
      vNext.push(vn);
    });
    steps.push({ p, f, g, grads, m, v, sc });
    p = asParams(next, shapes);
    m = mNext;
    v = vNext;
  }
  const final = mlpKernelMath.forward(ctx, x, labels, p.w, p.b, act);
  const entry: Trajectory = { keys, act, steps, final, finalParams: p, transposes };
  memo.push(entry);
  if (memo.length > MEMO_SIZE) memo.shift();
  return entry;
}

function forwardBody(ctx: FusedContext, attrs: tf.NamedAttrMap): FusedOutput[] {
  return [{ values: Float32Array.of(unroll(ctx, attrs).final.loss), shape: [] }];
}

/**
 * The meta-gradient: cotangents of theta (and, with `withParams`, of the initial params)
 * for a cotangent `dy` of the meta-loss, in reverse through the recorded unroll.
 */
function vjpBody(kernelCtx: FusedContext, attrs: tf.NamedAttrMap): FusedOutput[] {
  const tr = unroll(kernelCtx, attrs);
  // The recorded activations and weights are multiplied transposed again on the way back.
  const ctx = sharingTransposes(kernelCtx, tr.transposes);
  const act = tr.act;
  const withParams = attrs.withParams === true;
  const h = hyper(ctx);
  const dy = ctx.input('dy')[0]!;
  const fb = mlpKernelMath.backward(ctx, tr.final, tr.finalParams.w, act);
  const L = tr.finalParams.w.length;
  // Cotangents of the params, first and second moments after the current step.
  let dp: Float32Array[] = [];
  for (let l = 0; l < L; l++) {
    dp.push(
      fb.gw[l]!.map((x) => x * dy),
      fb.gb[l]!.map((x) => x * dy),
    );
  }
  let dm: Float32Array[] = dp.map((a) => new Float32Array(a.length));
  let dv: Float32Array[] = dp.map((a) => new Float32Array(a.length));
  let dFactor = 0;
  let db1 = 0;
  let db2 = 0;
  let dEps = 0;
  for (let t = tr.steps.length; t >= 1; t--) {
    const s = tr.steps[t - 1]!;
    const c = s.sc;
    const dg: Float32Array[] = [];
    const dmPrev: Float32Array[] = [];
    const dvPrev: Float32Array[] = [];
    const acc: AdamScalarCotangents = { dk: 0, dEpsScaled: 0, dRootAdd: 0, db1, db2 };
    const leafScalars = { b1: h.b1, b2: h.b2, k: c.k, rootAdd: c.rootAdd, epsScaled: c.epsScaled };
    s.grads.forEach((gj, j) => {
      const { dg: dgj, dm: dmj, dv: dvj } = adamLeafVjp(gj, s.m[j]!, s.v[j]!, dp[j]!, dm[j]!, dv[j]!, leafScalars, acc);
      dg.push(dgj);
      dmPrev.push(dmj);
      dvPrev.push(dvj);
    });
    const { dk, dEpsScaled, dRootAdd } = acc;
    db1 = acc.db1;
    db2 = acc.db2;
    // Through the step's scalars: k = factor sbc2 / bc1, epsScaled = eps sbc2,
    // rootAdd = epsRoot bc2, sbc2 = sqrt(bc2), bc = 1 - b^n.
    dFactor += (dk * c.sbc2) / c.bc1;
    const dSbc2 = (dk * c.factor) / c.bc1 + dEpsScaled * h.eps;
    const dBc1 = (-dk * c.factor * c.sbc2) / (c.bc1 * c.bc1);
    const dBc2 = dRootAdd * EPS_ROOT + (dSbc2 * 0.5) / c.sbc2;
    db1 += dBc1 * -c.n * h.b1 ** (c.n - 1);
    db2 += dBc2 * -c.n * h.b2 ** (c.n - 1);
    dEps += dEpsScaled * c.sbc2;
    dm = dmPrev;
    dv = dvPrev;
    // The gradient g = grad L(p) passes its cotangent to p as a Hessian-vector product;
    // the initial params only need it when their cotangent is asked for.
    if (t > 1 || withParams) {
      const vw = s.p.w.map((w, l) => mat(dg[2 * l]!, w.rows, w.cols));
      const vb = s.p.w.map((_, l) => dg[2 * l + 1]!);
      const hv = mlpKernelMath.hvp(ctx, s.f, s.g, s.p.w, vw, vb, 0, act);
      dp = dp.map((d, j) => {
        const out = new Float32Array(d.length);
        const add = hv[j]!.values;
        for (let i = 0; i < d.length; i++) out[i] = d[i]! + add[i]!;
        return out;
      });
    }
  }
  const scalar = (x: number): FusedOutput => ({ values: Float32Array.of(x), shape: [] });
  // theta -> hyperparameters: factor = -exp(logLr), b = 1 - exp(x), eps = exp(logEpsilon).
  const out = [scalar(-dFactor * h.lr), scalar(-db1 * h.e1), scalar(-db2 * h.e2), scalar(dEps * h.eps)];
  if (withParams) {
    const ps = tr.steps[0]?.p ?? tr.finalParams;
    ps.w.forEach((w, l) => {
      out.push({ values: dp[2 * l]!, shape: [w.rows, w.cols] }, { values: dp[2 * l + 1]!, shape: [w.cols] });
    });
  }
  return out;
}

const registered = new Set<number>();

function inputNames(L: number): string[] {
  const names: string[] = [];
  for (let l = 0; l < L; l++) names.push(`w${l}`, `b${l}`);
  return [...names, ...THETA_NAMES, 'x', 'labels'];
}

/** Registers the kernels and the gradient for MLPs of `L` layers (once). */
function ensureKernels(L: number): void {
  if (registered.has(L)) return;
  registered.add(L);
  registerFusedKernel(FORWARD(L), forwardBody);
  registerFusedKernel(VJP(L), vjpBody);
  const names = inputNames(L);
  tf.registerGradient({
    kernelName: FORWARD(L),
    inputsToSave: names,
    gradFunc: (dy, saved, attrs) => {
      const inputs: Record<string, tf.Tensor> = { dy: dy as tf.Tensor };
      names.forEach((n, i) => {
        inputs[n] = saved[i]!;
      });
      const grads: Record<string, () => tf.Tensor> = {
        x: () => tf.zeros(inputs.x!.shape),
        labels: () => tf.zeros(inputs.labels!.shape),
      };
      // Theta's cotangents (the meta-gradient) from one kernel, made here in the
      // backward pass's scope (tfjs runs each input's gradient below in a scope of its own).
      const thetaGrads = runFusedKernel(VJP(L), inputs, { ...attrs, withParams: false });
      THETA_NAMES.forEach((n, j) => {
        grads[n] = () => thetaGrads[j]!;
      });
      // The params' cotangents cost one more Hessian-vector product; tfjs asks for an
      // input's gradient only when it leads to what is differentiated, so a meta-gradient
      // (theta alone) never pays for them.
      for (let l = 0; l < L; l++) {
        for (const [j, n] of [`w${l}`, `b${l}`].entries()) {
          grads[n] = () => runFusedKernel(VJP(L), inputs, { ...attrs, withParams: true })[4 + 2 * l + j]!;
        }
      }
      return grads;
    },
  });
}

function thetaOf(theta: unknown): LearnableAdamTheta | undefined {
  const t = theta as Partial<LearnableAdamTheta> | null;
  if (!t || typeof t !== 'object') return undefined;
  for (const n of THETA_NAMES) {
    const x = t[n];
    if (!(x instanceof tf.Tensor) || x.dtype !== 'float32' || x.rank !== 0) return undefined;
  }
  return t as LearnableAdamTheta;
}

/** Where the kernel runs: exactly `LearnableAdam` on an `ImageMLPTask` with fused kernels, float32 data. */
function applies(
  lopt: unknown,
  task: unknown,
  theta: unknown,
  params: unknown,
  _sk: unknown,
  _fk: unknown,
  batch: unknown,
) {
  if (!(lopt instanceof LearnableAdam) || Object.getPrototypeOf(lopt) !== LearnableAdam.prototype) return false;
  if (!(task instanceof ImageMLPTask) || Object.getPrototypeOf(task) !== ImageMLPTask.prototype || !task.fused)
    return false;
  if (!thetaOf(theta)) return false;
  const b = batch as Partial<Batch> | null;
  if (!b || !(b.image instanceof tf.Tensor) || !(b.label instanceof tf.Tensor)) return false;
  // The batch task.loss accepts: images [B, H, W, C] float32, labels [B] int32.
  const okImage =
    b.image.rank === 4 && b.image.dtype === 'float32' && tf.util.arraysEqual(b.image.shape.slice(1), task.imageShape);
  if (!okImage || b.label.dtype !== 'int32' || b.label.rank !== 1 || b.label.shape[0] !== b.image.shape[0])
    return false;
  const p = params as MLPParams;
  return task.fused.modules.every((m) => p?.[m]?.w?.dtype === 'float32' && p?.[m]?.b?.dtype === 'float32');
}

function kernel<Theta, P, D>(
  ...[, task, theta, params, stepKeys, , batch]: UnrollArgs<Theta, P, D>
): tf.Scalar | undefined {
  const t = task as unknown as ImageMLPTask;
  const { modules, act } = t.fused!;
  // The checks task.loss makes, so a bad shape is the same clear error on either path.
  checkParamShapes(t.name, t.paramShapes(), params);
  const L = modules.length;
  ensureKernels(L);
  if (!kernelRegistered(FORWARD(L))) return undefined;
  const p = params as unknown as MLPParams;
  const th = theta as unknown as LearnableAdamTheta;
  const b = batch as unknown as Batch;
  const inputs: Record<string, tf.Tensor> = {};
  modules.forEach((m, l) => {
    inputs[`w${l}`] = p[m]!.w!;
    inputs[`b${l}`] = p[m]!.b!;
  });
  for (const n of THETA_NAMES) inputs[n] = th[n];
  inputs.x = b.image;
  inputs.labels = b.label;
  return runFusedKernel(FORWARD(L), inputs, { numLayers: L, activation: act, steps: stepKeys.length })[0] as tf.Scalar;
}

/** The reference: the inner loop of any learned optimizer on any task, in the task's and optimizer's own ops. */
function reference<Theta, P, D>(...[lopt, task, theta, params, stepKeys, finalKey, batch]: UnrollArgs<Theta, P, D>) {
  const opt = lopt.optFn(theta);
  // task.loss itself (not a wrapper) keeps the task's fused loss-and-gradient path.
  const lossAndGrad = valueAndGrad(task.loss);
  let state: OptState<P> = opt.init(params);
  for (const k of stepKeys) {
    const [l, g] = lossAndGrad(opt.getParams(state), k, batch);
    state = opt.update(state, g as P, { loss: l as tf.Scalar });
  }
  return task.loss(opt.getParams(state), finalKey, batch);
}

/**
 * The meta-loss of `stepKeys.length` inner steps of `lopt.optFn(theta)` from `params` on
 * `batch` (see `unrolledMetaLoss`). One fused kernel, with its VJP as a second, runs it on
 * cpu and wasm for exactly `LearnableAdam` on an `ImageMLPTask` with fused MLP kernels
 * (softmax cross-entropy, relu or tanh, no layer norm) and float32 data, while at most one
 * gradient tape records (the meta-gradient; deeper, the reference runs) and no gradient
 * is taken with respect to the images (the kernels treat them as data); the reference
 * runs otherwise.
 */
export const unrollOp = defineOp<UnrollArgs<unknown, unknown, unknown>, tf.Scalar>({
  name: 'unrolledMetaLoss',
  reference,
  kernel,
  applies,
  // The kernels give the images no gradient: differentiated with respect to them, the reference runs.
  constants: (...[, , , , , , batch]) => [(batch as Batch).image],
  // The VJP is a kernel without a gradient: second derivatives use the reference.
  vjpOrder: 1,
});
