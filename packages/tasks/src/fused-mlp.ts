import type { Batch } from '@lopt/datasets';
import {
  defineOp,
  type FusedContext,
  type FusedOutput,
  kernelRegistered,
  type Mat,
  type PyTree,
  registerFusedKernel,
  runFusedKernel,
  stackedOp,
  type TreeDef,
  treeFlatten,
  treeUnflatten,
} from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { ACTIVATIONS, type Activation } from './activations.js';
import type { MLPParams } from './mlp.js';

/**
 * The loss and gradient of a softmax-cross-entropy MLP as one fused kernel, and its
 * vector-Jacobian product (the Hessian-vector product that meta-gradients need) as a
 * second. The math is the same as the task's plain ops (`x @ w + b` per layer, relu or
 * tanh between layers, mean cross-entropy), derived by hand: forward, backward, and for
 * the VJP a forward-mode pass over the backward (Pearlmutter's R-operator).
 */

// One kernel pair per depth: tfjs saves inputs for a gradient by a fixed list of names.
const VALUE_AND_GRAD = (layers: number) => `LoptMlpCeValueAndGrad${layers}`;
const VJP = (layers: number) => `LoptMlpCeVjp${layers}`;
const LOSS = (layers: number) => `LoptMlpCeLoss${layers}`;

type ActName = 'relu' | 'tanh';

/** The fused kernels' name for an activation they support, if any. */
export function fusedActivationName(act: Activation): ActName | undefined {
  if (act === ACTIVATIONS.relu) return 'relu';
  if (act === ACTIVATIONS.tanh) return 'tanh';
  return undefined;
}

const mat = (data: Float32Array, rows: number, cols: number): Mat => ({ data, rows, cols });

/** An MLP's forward pass inside a fused kernel (see {@link mlpKernelMath}). */
export interface MlpForward {
  /** Layer inputs: a[0] = x, a[l + 1] = act(z[l]). */
  a: Mat[];
  /**
   * Pre-activations z[l] = a[l] w[l] + b[l]; the last is the logits. A hidden layer of a
   * ReLU network holds relu(z[l]) (the same array as a[l + 1]): its sign is all that is read.
   */
  z: Mat[];
  /** Softmax probabilities of the logits. */
  p: Float32Array;
  loss: number;
}

function layers(ctx: FusedContext, numLayers: number) {
  const w: Mat[] = [];
  const b: Float32Array[] = [];
  for (let l = 0; l < numLayers; l++) {
    const ws = ctx.shape(`w${l}`);
    w.push(mat(ctx.input(`w${l}`) as Float32Array, ws[0]!, ws[1]!));
    b.push(ctx.input(`b${l}`) as Float32Array);
  }
  return { w, b };
}

function forward(
  ctx: FusedContext,
  x: Mat,
  labels: Int32Array,
  w: Mat[],
  b: Float32Array[],
  act: ActName,
): MlpForward & { labels: Int32Array } {
  const batch = x.rows;
  const a: Mat[] = [x];
  const z: Mat[] = [];
  for (let l = 0; l < w.length; l++) {
    const hidden = l < w.length - 1;
    const layer = { w: w[l]!, b: b[l]! };
    if (hidden && act === 'relu') {
      // Product, bias and ReLU in one backend kernel. relu(z) stands in for z: the backward
      // pass only reads z's sign, and relu(z) > 0 exactly where z > 0.
      const al = ctx.dense(a[l]!, layer, 'relu');
      z.push(al);
      a.push(al);
      continue;
    }
    const zl = ctx.dense(a[l]!, layer, 'linear');
    z.push(zl);
    if (hidden) {
      const al = new Float32Array(zl.data.length);
      for (let i = 0; i < al.length; i++) al[i] = Math.tanh(zl.data[i]!);
      a.push(mat(al, zl.rows, zl.cols));
    }
  }
  const logits = z[z.length - 1]!;
  const c = logits.cols;
  const p = new Float32Array(logits.data.length);
  let loss = 0;
  for (let r = 0; r < batch; r++) {
    let m = -Infinity;
    for (let j = 0; j < c; j++) m = Math.max(m, logits.data[r * c + j]!);
    let s = 0;
    for (let j = 0; j < c; j++) {
      const e = Math.exp(logits.data[r * c + j]! - m);
      p[r * c + j] = e;
      s += e;
    }
    for (let j = 0; j < c; j++) p[r * c + j]! /= s;
    loss += m + Math.log(s) - logits.data[r * c + labels[r]!]!;
  }
  return { a, z, p, loss: loss / batch, labels };
}

/** act'(z), from the layer's output a = act(z). */
function actGrad(act: ActName, z: Mat, a: Mat): Float32Array {
  const out = new Float32Array(z.data.length);
  if (act === 'relu') for (let i = 0; i < out.length; i++) out[i] = z.data[i]! > 0 ? 1 : 0;
  else for (let i = 0; i < out.length; i++) out[i] = 1 - a.data[i]! * a.data[i]!;
  return out;
}

function colSums(m: Mat): Float32Array {
  const out = new Float32Array(m.cols);
  const { rows, cols, data } = m;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let j = 0; j < cols; j++) out[j]! += data[o + j]!;
  }
  return out;
}

/** Adds `v` to every row of `m`, in place. */
function addRowVector(m: Mat, v: Float32Array): void {
  const { rows, cols, data } = m;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let j = 0; j < cols; j++) data[o + j]! += v[j]!;
  }
}

/** An MLP's backward pass inside a fused kernel (see {@link mlpKernelMath}). */
export interface MlpBackward {
  /** dLoss/dz[l] per layer. */
  gz: Mat[];
  /** dLoss/da[l] for l >= 1 (index l). */
  ga: (Mat | undefined)[];
  gw: Float32Array[];
  gb: Float32Array[];
  /** act'(z[l]) for hidden layers. */
  dAct: Float32Array[];
}

function backward(ctx: FusedContext, f: MlpForward & { labels: Int32Array }, w: Mat[], act: ActName): MlpBackward {
  const L = w.length;
  const logits = f.z[L - 1]!;
  const batch = logits.rows;
  const c = logits.cols;
  const g0 = new Float32Array(f.p);
  for (let r = 0; r < batch; r++) g0[r * c + f.labels[r]!]! -= 1;
  for (let i = 0; i < g0.length; i++) g0[i]! /= batch;
  const gz: Mat[] = new Array(L);
  const ga: (Mat | undefined)[] = new Array(L);
  const gw: Float32Array[] = new Array(L);
  const gb: Float32Array[] = new Array(L);
  const dAct: Float32Array[] = new Array(L);
  gz[L - 1] = mat(g0, batch, c);
  for (let l = L - 1; l >= 0; l--) {
    gw[l] = ctx.matMul(f.a[l]!, gz[l]!, true, false).data;
    gb[l] = colSums(gz[l]!);
    if (l > 0) {
      const gal = ctx.matMul(gz[l]!, w[l]!, false, true);
      ga[l] = gal;
      dAct[l - 1] = actGrad(act, f.z[l - 1]!, f.a[l]!);
      const gzp = new Float32Array(gal.data.length);
      for (let i = 0; i < gzp.length; i++) gzp[i] = gal.data[i]! * dAct[l - 1]![i]!;
      gz[l - 1] = mat(gzp, gal.rows, gal.cols);
    }
  }
  return { gz, ga, gw, gb, dAct };
}

function lossBody(ctx: FusedContext, attrs: tf.NamedAttrMap): FusedOutput[] {
  const { f } = passes(ctx, attrs.numLayers as number, attrs.activation as ActName, false);
  return [{ values: Float32Array.of(f.loss), shape: [] }];
}

/**
 * The forward and backward passes of recent calls, keyed by the identity of their input
 * arrays (inputs are read once per tensor and tfjs data never changes): the VJP of a step
 * runs on the same inputs as that step's value-and-grad, so it reuses its passes instead
 * of recomputing them. A handful of entries covers an unroll; older ones are dropped.
 */
interface Passes {
  act: ActName;
  keys: readonly (Float32Array | Int32Array)[];
  f: MlpForward & { labels: Int32Array };
  g?: MlpBackward;
}
const MEMO_SIZE = 16;
const memo: Passes[] = [];

function passes(ctx: FusedContext, L: number, act: ActName, withBackward: boolean): Passes {
  const keys: (Float32Array | Int32Array)[] = [ctx.input('x'), ctx.input('labels')];
  for (let l = 0; l < L; l++) keys.push(ctx.input(`w${l}`), ctx.input(`b${l}`));
  let entry = memo.find((e) => e.act === act && e.keys.length === keys.length && e.keys.every((k, i) => k === keys[i]));
  if (!entry) {
    const { w, b } = layers(ctx, L);
    const xShape = ctx.shape('x');
    const x = mat(
      keys[0] as Float32Array,
      xShape[0]!,
      xShape.slice(1).reduce((n, d) => n * d, 1),
    );
    entry = { act, keys, f: forward(ctx, x, keys[1] as Int32Array, w, b, act) };
    memo.push(entry);
    if (memo.length > MEMO_SIZE) memo.shift();
  }
  if (withBackward && !entry.g) entry.g = backward(ctx, entry.f, layers(ctx, L).w, act);
  return entry;
}

function valueAndGradBody(ctx: FusedContext, attrs: tf.NamedAttrMap): FusedOutput[] {
  const L = attrs.numLayers as number;
  const act = attrs.activation as ActName;
  const { w } = layers(ctx, L);
  const { f, g } = passes(ctx, L, act, true) as Required<Passes>;
  const out: FusedOutput[] = [{ values: Float32Array.of(f.loss), shape: [] }];
  for (let l = 0; l < L; l++) {
    out.push({ values: g.gw[l]!, shape: [w[l]!.rows, w[l]!.cols] });
    out.push({ values: g.gb[l]!, shape: [w[l]!.cols] });
  }
  return out;
}

/**
 * Cotangents of the params given cotangents of (loss, gradW, gradB):
 * dLoss * grad + H v with v = (dGradW, dGradB), the Hessian-vector product taken as the
 * directional derivative of the gradient along v.
 */
function vjpBody(ctx: FusedContext, attrs: tf.NamedAttrMap): FusedOutput[] {
  const L = attrs.numLayers as number;
  const act = attrs.activation as ActName;
  const { w } = layers(ctx, L);
  const { f, g } = passes(ctx, L, act, true) as Required<Passes>;
  const dLoss = (ctx.input('dLoss') as Float32Array)[0]!;
  const vw: Mat[] = [];
  const vb: Float32Array[] = [];
  for (let l = 0; l < L; l++) {
    vw.push(mat(ctx.input(`dw${l}`) as Float32Array, w[l]!.rows, w[l]!.cols));
    vb.push(ctx.input(`db${l}`) as Float32Array);
  }
  return hvp(ctx, f, g, w, vw, vb, dLoss, act);
}

/** `dLoss * grad + H v` for one problem, from its forward and backward passes. */
function hvp(
  ctx: FusedContext,
  f: MlpForward,
  g: MlpBackward,
  w: Mat[],
  vw: Mat[],
  vb: Float32Array[],
  dLoss: number,
  act: ActName,
): FusedOutput[] {
  const L = w.length;
  // R-forward: Rz[l] = Ra[l] w[l] + a[l] vw[l] + vb[l], Ra[l+1] = act'(z[l]) Rz[l] (Ra[0] = 0).
  const Rz: Mat[] = [];
  const Ra: (Mat | undefined)[] = [undefined];
  for (let l = 0; l < L; l++) {
    const rz = ctx.matMul(f.a[l]!, vw[l]!);
    if (Ra[l]) {
      const t = ctx.matMul(Ra[l]!, w[l]!);
      for (let i = 0; i < rz.data.length; i++) rz.data[i]! += t.data[i]!;
    }
    addRowVector(rz, vb[l]!);
    Rz.push(rz);
    if (l < L - 1) {
      const ra = new Float32Array(rz.data.length);
      const d = g.dAct[l]!;
      for (let i = 0; i < ra.length; i++) ra[i] = d[i]! * rz.data[i]!;
      Ra.push(mat(ra, rz.rows, rz.cols));
    }
  }
  // R of the logits' gradient: (p * (Rlogits - sum(p * Rlogits))) / B.
  const rl = Rz[L - 1]!;
  const batch = rl.rows;
  const c = rl.cols;
  const rg = new Float32Array(rl.data.length);
  for (let r = 0; r < batch; r++) {
    let s = 0;
    for (let j = 0; j < c; j++) s += f.p[r * c + j]! * rl.data[r * c + j]!;
    for (let j = 0; j < c; j++) rg[r * c + j] = (f.p[r * c + j]! * (rl.data[r * c + j]! - s)) / batch;
  }
  let Rgz = mat(rg, batch, c);
  const out: FusedOutput[] = new Array(2 * L);
  for (let l = L - 1; l >= 0; l--) {
    const ow = ctx.matMul(f.a[l]!, Rgz, true, false).data;
    if (Ra[l]) {
      const t = ctx.matMul(Ra[l]!, g.gz[l]!, true, false).data;
      for (let i = 0; i < ow.length; i++) ow[i]! += t[i]!;
    }
    for (let i = 0; i < ow.length; i++) ow[i]! += dLoss * g.gw[l]![i]!;
    const ob = colSums(Rgz);
    for (let i = 0; i < ob.length; i++) ob[i]! += dLoss * g.gb[l]![i]!;
    out[2 * l] = { values: ow, shape: [w[l]!.rows, w[l]!.cols] };
    out[2 * l + 1] = { values: ob, shape: [w[l]!.cols] };
    if (l > 0) {
      // R(ga) = Rgz w^T + gz vw^T; R(gz[l-1]) = R(ga) act'(z) + ga act''(z) Rz.
      const rga = ctx.matMul(Rgz, w[l]!, false, true);
      const t = ctx.matMul(g.gz[l]!, vw[l]!, false, true);
      const d = g.dAct[l - 1]!;
      const next = new Float32Array(rga.data.length);
      const ga = g.ga[l]!.data;
      const rzPrev = Rz[l - 1]!.data;
      const aPrev = f.a[l]!.data;
      for (let i = 0; i < next.length; i++) {
        let v = (rga.data[i]! + t.data[i]!) * d[i]!;
        if (act === 'tanh') v += ga[i]! * -2 * aPrev[i]! * d[i]! * rzPrev[i]!;
        next[i] = v;
      }
      Rgz = mat(next, rga.rows, rga.cols);
    }
  }
  return out;
}

/**
 * K problems in one kernel: parameters stacked on a leading axis (`w` `[K, in, out]`),
 * images shared (`[B, ...]`) or per problem (`[K, B, ...]`). Each problem runs the same
 * math as the single kernels with plain 2-D products, which wasm runs far faster than
 * batched ones; for tfjs it is one op, whatever K is.
 */
interface Problem {
  x: Mat;
  labels: Int32Array;
  w: Mat[];
  b: Float32Array[];
}

function problems(ctx: FusedContext, L: number): Problem[] {
  const w0 = ctx.shape('w0');
  const K = w0[0]!;
  const xShape = ctx.shape('x');
  const perMember = ctx.shape('labels').length === 2;
  const batch = xShape[perMember ? 1 : 0]!;
  const features = xShape.slice(perMember ? 2 : 1).reduce((n, d) => n * d, 1);
  const xs = ctx.input('x') as Float32Array;
  const ls = ctx.input('labels') as Int32Array;
  const ws = Array.from({ length: L }, (_, l) => ({
    data: ctx.input(`w${l}`) as Float32Array,
    shape: ctx.shape(`w${l}`),
  }));
  const bs = Array.from({ length: L }, (_, l) => ctx.input(`b${l}`) as Float32Array);
  return Array.from({ length: K }, (_, k) => {
    const xo = perMember ? k * batch * features : 0;
    return {
      x: mat(xs.subarray(xo, xo + batch * features), batch, features),
      labels: perMember ? ls.subarray(k * batch, (k + 1) * batch) : ls,
      w: ws.map(({ data, shape }) => {
        const n = shape[1]! * shape[2]!;
        return mat(data.subarray(k * n, (k + 1) * n), shape[1]!, shape[2]!);
      }),
      b: bs.map((data, l) => {
        const n = ws[l]!.shape[2]!;
        return data.subarray(k * n, (k + 1) * n);
      }),
    };
  });
}

/** Stacks per-problem arrays into one `[K, ...shape]` output. */
function stack(parts: Float32Array[], shape: number[]): FusedOutput {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return { values: out, shape: [parts.length, ...shape] };
}

/**
 * The K problems' forward (and backward) passes of recent batched calls, keyed as
 * `passes` keys the single-problem ones: the batched loss's gradient runs the batched
 * value-and-grad kernel on the same inputs right after the loss kernel, and reuses its
 * forward passes instead of recomputing them.
 */
interface BatchedPasses {
  act: ActName;
  keys: readonly (Float32Array | Int32Array)[];
  f: (MlpForward & { labels: Int32Array })[];
  g?: MlpBackward[];
}
const batchedMemo: BatchedPasses[] = [];

function batchedPasses(ctx: FusedContext, L: number, act: ActName, ps: Problem[], withBackward: boolean) {
  const keys: (Float32Array | Int32Array)[] = [ctx.input('x'), ctx.input('labels')];
  for (let l = 0; l < L; l++) keys.push(ctx.input(`w${l}`), ctx.input(`b${l}`));
  let entry = batchedMemo.find(
    (e) => e.act === act && e.keys.length === keys.length && e.keys.every((k, i) => k === keys[i]),
  );
  if (!entry) {
    entry = { act, keys, f: ps.map((p) => forward(ctx, p.x, p.labels, p.w, p.b, act)) };
    batchedMemo.push(entry);
    if (batchedMemo.length > MEMO_SIZE) batchedMemo.shift();
  }
  if (withBackward && !entry.g) entry.g = ps.map((p, k) => backward(ctx, entry!.f[k]!, p.w, act));
  return entry;
}

function batchedBody(ctx: FusedContext, attrs: tf.NamedAttrMap, withGrads: boolean): FusedOutput[] {
  const L = attrs.numLayers as number;
  const act = attrs.activation as ActName;
  const ps = problems(ctx, L);
  const losses = new Float32Array(ps.length);
  const gw: Float32Array[][] = Array.from({ length: L }, () => []);
  const gb: Float32Array[][] = Array.from({ length: L }, () => []);
  const passesK = batchedPasses(ctx, L, act, ps, withGrads);
  ps.forEach((_, k) => {
    losses[k] = passesK.f[k]!.loss;
    if (!withGrads) return;
    const g = passesK.g![k]!;
    for (let l = 0; l < L; l++) {
      gw[l]!.push(g.gw[l]!);
      gb[l]!.push(g.gb[l]!);
    }
  });
  const out: FusedOutput[] = [{ values: losses, shape: [ps.length] }];
  if (withGrads) {
    const w = ps[0]!.w;
    for (let l = 0; l < L; l++) {
      out.push(stack(gw[l]!, [w[l]!.rows, w[l]!.cols]));
      out.push(stack(gb[l]!, [w[l]!.cols]));
    }
  }
  return out;
}

function batchedVjpBody(ctx: FusedContext, attrs: tf.NamedAttrMap): FusedOutput[] {
  const L = attrs.numLayers as number;
  const act = attrs.activation as ActName;
  const ps = problems(ctx, L);
  const dLoss = ctx.input('dLoss') as Float32Array;
  const dws = Array.from({ length: L }, (_, l) => ctx.input(`dw${l}`) as Float32Array);
  const dbs = Array.from({ length: L }, (_, l) => ctx.input(`db${l}`) as Float32Array);
  const ow: Float32Array[][] = Array.from({ length: L }, () => []);
  const ob: Float32Array[][] = Array.from({ length: L }, () => []);
  const passesK = batchedPasses(ctx, L, act, ps, true);
  ps.forEach((p, k) => {
    const f = passesK.f[k]!;
    const g = passesK.g![k]!;
    const vw = p.w.map((wl, l) => {
      const n = wl.rows * wl.cols;
      return mat(dws[l]!.subarray(k * n, (k + 1) * n), wl.rows, wl.cols);
    });
    const vb = p.w.map((wl, l) => dbs[l]!.subarray(k * wl.cols, (k + 1) * wl.cols));
    const outs = hvp(ctx, f, g, p.w, vw, vb, dLoss[k]!, act);
    for (let l = 0; l < L; l++) {
      ow[l]!.push(outs[2 * l]!.values);
      ob[l]!.push(outs[2 * l + 1]!.values);
    }
  });
  const w = ps[0]!.w;
  const out: FusedOutput[] = [];
  for (let l = 0; l < L; l++) {
    out.push(stack(ow[l]!, [w[l]!.rows, w[l]!.cols]));
    out.push(stack(ob[l]!, [w[l]!.cols]));
  }
  return out;
}

const BATCHED_LOSS = (layers: number) => `LoptMlpCeBatchedLoss${layers}`;
const BATCHED_VALUE_AND_GRAD = (layers: number) => `LoptMlpCeBatchedValueAndGrad${layers}`;
const BATCHED_VJP = (layers: number) => `LoptMlpCeBatchedVjp${layers}`;

const registered = new Set<number>();

/** Registers the kernels and the gradient for MLPs of `L` layers (once). */
function ensureKernels(L: number): void {
  if (registered.has(L)) return;
  registered.add(L);
  registerFusedKernel(VALUE_AND_GRAD(L), valueAndGradBody);
  registerFusedKernel(VJP(L), vjpBody);
  registerFusedKernel(LOSS(L), lossBody);
  registerFusedKernel(BATCHED_LOSS(L), (ctx, attrs) => batchedBody(ctx, attrs, false));
  registerFusedKernel(BATCHED_VALUE_AND_GRAD(L), (ctx, attrs) => batchedBody(ctx, attrs, true));
  registerFusedKernel(BATCHED_VJP(L), batchedVjpBody);
  const names = ['x', 'labels'];
  for (let l = 0; l < L; l++) names.push(`w${l}`, `b${l}`);
  const inputsOf = (saved: tf.Tensor[]) => {
    const inputs: Record<string, tf.Tensor> = {};
    names.forEach((n, i) => {
      inputs[n] = saved[i]!;
    });
    return inputs;
  };
  const noDataGrads = (saved: tf.Tensor[]): Record<string, () => tf.Tensor> => ({
    x: () => tf.zeros(saved[0]!.shape),
    labels: () => tf.zeros(saved[1]!.shape),
  });
  // K problems: the losses' gradient is the batched value-and-grad kernel's, each problem's
  // scaled by its dy; that kernel's gradient is the batched Hessian-vector product.
  tf.registerGradient({
    kernelName: BATCHED_LOSS(L),
    inputsToSave: names,
    gradFunc: (dy, saved, attrs) => {
      const outs = runFusedKernel(BATCHED_VALUE_AND_GRAD(L), inputsOf(saved), attrs);
      const d = dy as tf.Tensor;
      const grads = noDataGrads(saved);
      for (let l = 0; l < L; l++) {
        grads[`w${l}`] = () => tf.mul(outs[1 + 2 * l]!, tf.reshape(d, [-1, 1, 1]));
        grads[`b${l}`] = () => tf.mul(outs[2 + 2 * l]!, tf.reshape(d, [-1, 1]));
      }
      return grads;
    },
  });
  tf.registerGradient({
    kernelName: BATCHED_VALUE_AND_GRAD(L),
    inputsToSave: names,
    gradFunc: (dys, saved, attrs) => {
      const d = dys as tf.Tensor[];
      const inputs: Record<string, tf.Tensor> = { ...inputsOf(saved), dLoss: d[0]! };
      for (let l = 0; l < L; l++) {
        inputs[`dw${l}`] = d[1 + 2 * l]!;
        inputs[`db${l}`] = d[2 + 2 * l]!;
      }
      const outs = runFusedKernel(BATCHED_VJP(L), inputs, attrs);
      const grads = noDataGrads(saved);
      for (let l = 0; l < L; l++) {
        grads[`w${l}`] = () => outs[2 * l]!;
        grads[`b${l}`] = () => outs[2 * l + 1]!;
      }
      return grads;
    },
  });
  // The loss alone: its gradient is the value-and-grad kernel's, scaled by dy (and so
  // differentiable again through that kernel's own gradient).
  tf.registerGradient({
    kernelName: LOSS(L),
    inputsToSave: names,
    gradFunc: (dy, saved, attrs) => {
      const inputs: Record<string, tf.Tensor> = {};
      names.forEach((n, i) => {
        inputs[n] = saved[i]!;
      });
      const outs = runFusedKernel(VALUE_AND_GRAD(L), inputs, attrs);
      const grads: Record<string, () => tf.Tensor> = {
        x: () => tf.zeros(saved[0]!.shape),
        labels: () => tf.zeros(saved[1]!.shape),
      };
      for (let l = 0; l < L; l++) {
        grads[`w${l}`] = () => tf.mul(outs[1 + 2 * l]!, dy as tf.Tensor);
        grads[`b${l}`] = () => tf.mul(outs[2 + 2 * l]!, dy as tf.Tensor);
      }
      return grads;
    },
  });
  tf.registerGradient({
    kernelName: VALUE_AND_GRAD(L),
    inputsToSave: names,
    gradFunc: (dys, saved, attrs) => {
      const d = dys as tf.Tensor[];
      const inputs: Record<string, tf.Tensor> = { dLoss: d[0]! };
      names.forEach((n, i) => {
        inputs[n] = saved[i]!;
      });
      for (let l = 0; l < L; l++) {
        inputs[`dw${l}`] = d[1 + 2 * l]!;
        inputs[`db${l}`] = d[2 + 2 * l]!;
      }
      // Computed once here, not per input: every parameter's cotangent comes from one kernel.
      const outs = runFusedKernel(VJP(L), inputs, attrs);
      const grads: Record<string, () => tf.Tensor> = {
        x: () => tf.zeros(saved[0]!.shape),
        labels: () => tf.zeros(saved[1]!.shape),
      };
      for (let l = 0; l < L; l++) {
        grads[`w${l}`] = () => outs[2 * l]!;
        grads[`b${l}`] = () => outs[2 * l + 1]!;
      }
      return grads;
    },
  });
}

/**
 * What the MLP ops need of a task: its fused view (when the kernels cover it) and its
 * plain loss, which with parameters stacked on a leading axis gives the K losses.
 */
export interface MlpOpTask {
  readonly fused?: { modules: readonly string[]; act: ActName };
  plainLoss(params: MLPParams, data: Batch): tf.Scalar;
}

function kernelInputs(params: MLPParams, data: Batch, moduleNames: readonly string[]): Record<string, tf.Tensor> {
  const inputs: Record<string, tf.Tensor> = { x: data.image, labels: data.label };
  moduleNames.forEach((m, l) => {
    inputs[`w${l}`] = params[m]!.w!;
    inputs[`b${l}`] = params[m]!.b!;
  });
  return inputs;
}

const fusable = (t: MlpOpTask, params: MLPParams, data: Batch) =>
  t.fused !== undefined &&
  data.image.dtype === 'float32' &&
  t.fused.modules.every((m) => params[m]?.w?.dtype === 'float32' && params[m]?.b?.dtype === 'float32');

/**
 * The mean softmax cross-entropy of an image MLP (`ImageMLPTask.loss`): the plain ops
 * define it; one fused kernel computes it on cpu and wasm for relu and tanh MLPs without
 * layer norm. Its gradient is the fused value-and-grad kernel's and that kernel's
 * gradient the fused Hessian-vector product, so the kernel serves to second order
 * (meta-gradients through inner gradients); deeper, the reference runs. The kernels
 * give the images no gradient: where a gradient is taken with respect to them (input
 * gradients, a learned augmentation), the reference runs.
 */
export const mlpLoss = defineOp<[MlpOpTask, MLPParams, Batch], tf.Scalar>({
  name: 'ImageMLPTask.loss',
  reference: (t, params, data) => t.plainLoss(params, data),
  applies: fusable,
  constants: (_t, _params, data) => [data.image],
  kernel: (t, params, data) => {
    const { modules, act } = t.fused!;
    const L = modules.length;
    ensureKernels(L);
    if (!kernelRegistered(LOSS(L))) return undefined;
    return runFusedKernel(LOSS(L), kernelInputs(params, data, modules), {
      numLayers: L,
      activation: act,
    })[0] as tf.Scalar;
  },
  vjpOrder: 2,
});

/**
 * Problem k's arguments of `mlpLoss` from K problems' stacked ones: parameter leaves
 * `[K, ...]`, images shared (`[B, ...]`) or per problem (`[K, B, ...]`, labels `[K, B]`).
 */
function splitProblems(t: MlpOpTask, stacked: MLPParams, data: Batch): [MlpOpTask, MLPParams, Batch][] {
  const [leaves, def] = treeFlatten(stacked as PyTree<tf.Tensor>) as [tf.Tensor[], TreeDef];
  const K = leaves[0]?.shape[0] ?? 0;
  const perLeaf = leaves.map((x) => tf.unstack(x));
  const perProblem = data.label.rank === 2;
  const images = perProblem ? tf.unstack(data.image) : [];
  const labels = perProblem ? tf.unstack(data.label) : [];
  return Array.from({ length: K }, (_, k) => [
    t,
    treeUnflatten(
      def,
      perLeaf.map((xs) => xs[k]!),
    ) as MLPParams,
    perProblem ? { image: images[k] as tf.Tensor4D, label: labels[k] as tf.Tensor1D } : data,
  ]);
}

/**
 * The K losses of K image MLPs stacked on a leading axis (`ImageMLPTask.batchedLoss`),
 * `data.image` `[B, ...]` (shared) or `[K, B, ...]` with `data.label` `[K, B]`: derived
 * from `mlpLoss` by `stackedOp`, its values and derivatives those of K `mlpLoss` calls.
 * Its reference is `mlpLoss`'s reference run once over all K problems, the parameters'
 * leading axis broadcast through its batched matmuls (the task's `plainLoss` takes
 * stacked parameters), rather than once per problem on slices. Measured in one process,
 * fast paths off, K = 8, the FashionMnist8 relu MLP with per-problem batches, blocks
 * alternated on a loaded 2-core machine, per problem on slices took, relative to the
 * broadcast reference, 1.28x the time for the losses and 1.39x for losses and gradients
 * on wasm (0.79x and 1.08x on cpu): slicing the problems apart and stacking their
 * gradients back costs more than K small matmuls save over batched ones.
 *
 * Its fast path is a kernel of its own, one for K problems (one op's bookkeeping instead
 * of K), whose gradient is the K-problem value-and-grad kernel and that kernel's the
 * K-problem Hessian-vector product: second order as `mlpLoss`. Call it inside `tf.tidy`.
 */
export const mlpBatchedLoss = stackedOp<
  [MlpOpTask, MLPParams, Batch],
  tf.Scalar,
  [MlpOpTask, MLPParams, Batch],
  tf.Tensor1D
>(mlpLoss, {
  name: 'ImageMLPTask.batchedLoss',
  split: splitProblems,
  stack: (losses) => tf.stack(losses) as tf.Tensor1D,
  kernel: {
    run: (t, params, data) => {
      const { modules, act } = t.fused!;
      const L = modules.length;
      ensureKernels(L);
      if (!kernelRegistered(BATCHED_LOSS(L))) return undefined;
      return runFusedKernel(BATCHED_LOSS(L), kernelInputs(params, data, modules), {
        numLayers: L,
        activation: act,
      })[0] as tf.Tensor1D;
    },
    applies: fusable,
    constants: (_t, _params, data) => [data.image],
    vjpOrder: 2,
  },
});

/**
 * The math of the fused MLP kernels, for kernels that run an image MLP inside a larger
 * computation (a whole unrolled inner training loop, say) on data they hold in
 * JavaScript. `forward` is the loss and the activations, `backward` the gradient,
 * `hvp` the cotangent of the parameters for cotangents of (loss, gradient): `dLoss`
 * times the gradient plus the Hessian-vector product. Weights are `[in, out]` row-major
 * matrices, layer by layer; `act` is the hidden activation (`fusedActivationName`).
 */
export const mlpKernelMath = { forward, backward, hvp } as const;
