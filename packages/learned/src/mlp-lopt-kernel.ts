import { MLP_LOPT_KERNEL_WASM } from './mlp-lopt-kernel-wasm.js';
import { lazyWasmKernel } from './wasm-kernel.js';

/*
 * The compiled (WebAssembly SIMD) per-element kernel of `MLPLOpt`'s fused step for its
 * default shape: six momentum decays, hidden layers 32 and 32 (source:
 * wasm/mlp-lopt-kernel.ts). It has its own linear memory: the step copies each tensor's
 * gradient, parameters and momenta in and reads the new momenta and parameters back.
 * Where WebAssembly or its SIMD extension is missing the module does not validate and the
 * fused step keeps its JavaScript loops and the backend's matmuls.
 */

/** The kernel's exports (pointers are byte offsets into `memory`). */
interface MLPLOptKernelExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  momenta(n: number, g: number, p: number, mPrev: number, m: number, decays: number, sumsq: number): void;
  mlp(
    n: number,
    g: number,
    p: number,
    m: number,
    out: number,
    w: number,
    h: number,
    expMult: number,
    stepMult: number,
  ): void;
}

const load = lazyWasmKernel<MLPLOptKernelExports>(MLP_LOPT_KERNEL_WASM, 'MLPLOpt kernel');
let enabled = true;
let tensors = 0;

/** Decays in the kernel's layout: 3 vectors of `d` covering two elements' six momenta, then `1 - d`. */
const DECAYS_BYTES = 96;
const SUMSQ_BYTES = 64;
/** Splatted weights: [8][32] + [32] + [32][32] + [32] + [32][2] + [2] vectors. */
const WEIGHT_VECTORS = 1410;
const OFF = { b0: 256, w1: 288, b1: 1312, w2: 1344, b2: 1408 } as const;
const HIDDEN = 32;
/** Elements the kernel's MLP computes at a time (two SIMD vectors). */
const GROUP = 8;

/** The kernel's memory layout for tensors of up to `cap` elements. */
class Layout {
  readonly decays: number;
  readonly sumsq: number;
  readonly w: number;
  readonly h: number;
  readonly g: number;
  readonly p: number;
  readonly mPrev: number;
  readonly m: number;
  readonly out: number;
  readonly end: number;
  constructor(
    base: number,
    readonly cap: number,
  ) {
    let at = (base + 15) & ~15;
    const take = (bytes: number) => {
      const start = at;
      at += (bytes + 15) & ~15;
      return start;
    };
    this.decays = take(DECAYS_BYTES);
    this.sumsq = take(SUMSQ_BYTES);
    this.w = take(WEIGHT_VECTORS * 16);
    this.h = take(2 * HIDDEN * 16);
    // Room for the last group of elements (the kernel computes whole groups).
    const n = cap + GROUP;
    this.g = take(n * 4);
    this.p = take(n * 4);
    this.mPrev = take(n * 24);
    this.m = take(n * 24);
    this.out = take(n * 4);
    this.end = at;
  }
}

let layout: Layout | undefined;

/**
 * The kernel with room for tensors of `cap` elements, or `undefined` where it is
 * unavailable or switched off.
 */
function kernelFor(cap: number): { k: MLPLOptKernelExports; l: Layout } | undefined {
  if (!enabled) return undefined;
  const k = load();
  if (!k) return undefined;
  if (!layout || layout.cap < cap) {
    const l = new Layout(k.heapBase(), cap);
    const have = k.memory.buffer.byteLength;
    if (l.end > have) k.memory.grow(Math.ceil((l.end - have) / 65536));
    layout = l;
  }
  return { k, l: layout };
}

/** True when the compiled kernel can run (WebAssembly SIMD present, kernel switched on). */
export function mlpLOptKernelAvailable(): boolean {
  return enabled && load() !== undefined;
}

/**
 * Switches the compiled kernel on or off (on by default) and returns the previous setting.
 * Off, the fused step runs its JavaScript loops and the backend's matmuls: for comparing
 * the two, and as an escape hatch.
 */
export function setMLPLOptKernelEnabled(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

/** How many tensors the compiled kernel has updated so far in this process: where it ran. */
export function mlpLOptKernelTensors(): number {
  return tensors;
}

/** One problem's inputs and outputs for `mlpLOptKernelProblem` (views of the fused step's arrays). */
export interface MLPLOptKernelProblem {
  /** Parameter leaves. */
  ps: Float32Array[];
  /** Gradient leaves. */
  gs: Float32Array[];
  /** New parameter leaves (written). */
  outs: Float32Array[];
  /** Momenta `[N, 6]`. */
  mPrev: Float32Array;
  /** New momenta `[N, 6]` (written). */
  m: Float32Array;
  /** The six decays. */
  decays: Float32Array;
  /** The first layer's weights; its leading 8 rows take the features, `[>= 8, 32]`. */
  w0: Float32Array;
  /** The first layer's bias plus the step embeddings' share, `[32]`. */
  shift0: Float32Array;
  /** The hidden layer `[32, 32]` and bias `[32]`, the output layer `[32, 2]` and bias `[2]`. */
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
  expMult: number;
  stepMult: number;
}

function splat(f32: Float32Array, at: number, values: ArrayLike<number>, scale = 1): void {
  let o = at >> 2;
  for (let i = 0; i < values.length; i++, o += 4) {
    const v = Math.fround(values[i]! * scale);
    f32[o] = v;
    f32[o + 1] = v;
    f32[o + 2] = v;
    f32[o + 3] = v;
  }
}

/**
 * One problem of `MLPLOpt`'s fused step on the compiled kernel, tensor by tensor: returns
 * false (having written nothing) where the kernel is unavailable or switched off. The
 * arithmetic is the JavaScript loops' (features normalised per tensor by
 * `rsqrt(mean(x^2) + 1e-5)`, the normaliser folded into the first layer's rows).
 */
export function mlpLOptKernelProblem(x: MLPLOptKernelProblem): boolean {
  let cap = 0;
  for (const p of x.ps) cap = Math.max(cap, p.length);
  const kl = kernelFor(cap);
  if (!kl) return false;
  const { k, l } = kl;
  const f32 = new Float32Array(k.memory.buffer);
  const f64 = new Float64Array(k.memory.buffer);
  const d = x.decays;
  const pattern = [d[0]!, d[1]!, d[2]!, d[3]!, d[4]!, d[5]!, d[0]!, d[1]!, d[2]!, d[3]!, d[4]!, d[5]!];
  f32.set(pattern, l.decays >> 2);
  f32.set(
    pattern.map((v) => Math.fround(1 - v)),
    (l.decays >> 2) + 12,
  );
  splat(f32, l.w + OFF.b0 * 16, x.shift0);
  splat(f32, l.w + OFF.w1 * 16, x.w1);
  splat(f32, l.w + OFF.b1 * 16, x.b1);
  splat(f32, l.w + OFF.w2 * 16, x.w2);
  splat(f32, l.w + OFF.b2 * 16, x.b2);
  let o = 0;
  for (let t = 0; t < x.ps.length; t++) {
    const p = x.ps[t]!;
    const sz = p.length;
    f32.set(x.gs[t]!, l.g >> 2);
    f32.set(p, l.p >> 2);
    f32.set(x.mPrev.subarray(o * 6, (o + sz) * 6), l.mPrev >> 2);
    f64.fill(0, l.sumsq >> 3, (l.sumsq >> 3) + 8);
    k.momenta(sz, l.g, l.p, l.mPrev, l.m, l.decays, l.sumsq);
    // The per-tensor normaliser of each feature, folded into its row of the first layer.
    for (let r = 0; r < 8; r++) {
      const sc = Math.fround(1 / Math.sqrt(f64[(l.sumsq >> 3) + r]! / sz + 1e-5));
      splat(f32, l.w + r * HIDDEN * 16, x.w0.subarray(r * HIDDEN, (r + 1) * HIDDEN), sc);
    }
    k.mlp(sz, l.g, l.p, l.m, l.out, l.w, l.h, x.expMult, x.stepMult);
    x.m.set(f32.subarray(l.m >> 2, (l.m >> 2) + sz * 6), o * 6);
    x.outs[t]!.set(f32.subarray(l.out >> 2, (l.out >> 2) + sz));
    o += sz;
    tensors++;
  }
  return true;
}
