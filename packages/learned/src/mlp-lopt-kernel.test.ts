// The compiled (WebAssembly SIMD) kernel of MLPLOpt's fused step against the fused step's
// JavaScript loops (the backend's matmuls) and against the plain-op reference, on
// whichever backend the tests run (wasm, cpu) and with the fast paths off, for one
// problem and for K problems stacked (`vectorizedOptFn`).

import {
  fastPathsActive,
  fastPathsEnabled,
  random,
  setFastPathsEnabled,
  tidy,
  treeDispose,
  treeLeaves,
} from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { MLPLOpt, type MLPLOptState } from './mlp-lopt.js';
import { mlpLOptKernelAvailable, mlpLOptKernelTensors, setMLPLOptKernelEnabled } from './mlp-lopt-kernel.js';
import { expectClose, firstNaN } from './test-tasks.js';

type Params = Record<string, tf.Tensor>;

// Sizes that are and are not multiples of the kernel's 4 lanes (1, 3, 5, 6, 7, 37 * 21),
// a scalar, a rank-3 tensor, and a tensor larger than the JavaScript path's block of rows.
const SHAPES: Record<string, number[]> = {
  a: [37, 21],
  b: [5],
  c: [3, 4, 5],
  d: [],
  e: [3],
  f: [6, 1],
  g: [7],
  h: [170, 100],
};
const STEPS = 3;
const K = 3;

function params(k = 0): Params {
  return tidy(() => {
    const keys = random.split(random.PRNGKey(11 + k), 8);
    return Object.fromEntries(Object.entries(SHAPES).map(([n, s], i) => [n, random.normal(keys[i]!, s)]));
  });
}

// Gradients that do not depend on the parameters, of different scales per tensor (the
// per-tensor normalisers differ), with an exact-zero row (dead units).
function grads(step: number, k = 0, nan = false): Params {
  return tidy(() => {
    const keys = random.split(random.PRNGKey(100 + 10 * step + k), 8);
    const out: Params = Object.fromEntries(
      Object.entries(SHAPES).map(([n, s], i) => [n, tf.mul(random.normal(keys[i]!, s), 0.1 * (i + 1))]),
    );
    out.a = tf.mul(out.a!, tf.concat([tf.ones([36, 1]), tf.zeros([1, 1])]));
    // With `nan`, the first element of every gradient is NaN.
    if (nan) for (const [n, s] of Object.entries(SHAPES)) out[n] = tf.mul(out[n]!, firstNaN(s));
    return out;
  });
}

const lopt = new MLPLOpt({ stepMult: 0.1, expMult: 0.5 });

function withPaths<T>(fast: boolean, kernelOn: boolean, f: () => T): T {
  const fastBefore = setFastPathsEnabled(fast);
  const kernelBefore = setMLPLOptKernelEnabled(kernelOn);
  try {
    return f();
  } finally {
    setFastPathsEnabled(fastBefore);
    setMLPLOptKernelEnabled(kernelBefore);
  }
}

function run(fast: boolean, kernelOn: boolean, nan = false): MLPLOptState<Params> {
  return withPaths(fast, kernelOn, () => {
    const theta = lopt.init(random.PRNGKey(3));
    const opt = lopt.optFn(theta);
    let state = opt.init(params()) as MLPLOptState<Params>;
    for (let s = 0; s < STEPS; s++) {
      const g = grads(s, 0, nan);
      const next = tidy(() => opt.update(state, g)) as MLPLOptState<Params>;
      treeDispose(state, g);
      state = next;
    }
    treeDispose(theta);
    return state;
  });
}

/** K problems through `vectorizedOptFn`: the stacked params and momenta after `STEPS` updates. */
function runStacked(fast: boolean, kernelOn: boolean): tf.Tensor[] {
  return withPaths(fast, kernelOn, () => {
    const thetas = Array.from({ length: K }, (_, k) => lopt.init(random.PRNGKey(30 + k)));
    const opt = lopt.vectorizedOptFn(thetas);
    const stack = (trees: Params[]) =>
      tidy(() => Object.fromEntries(Object.keys(SHAPES).map((n) => [n, tf.stack(trees.map((t) => t[n]!))])));
    const ps = Array.from({ length: K }, (_, k) => params(k));
    let state = opt.init(stack(ps));
    treeDispose(ps);
    for (let s = 0; s < STEPS; s++) {
      const gs = Array.from({ length: K }, (_, k) => grads(s, k));
      const g = stack(gs);
      const next = tidy(() => opt.update(state, g));
      treeDispose(state, g, gs);
      state = next;
    }
    treeDispose(thetas);
    const s = state as unknown as MLPLOptState<Params>;
    const out = [...(treeLeaves(s.params) as tf.Tensor[]), s.rollingFeatures.m];
    treeDispose(s.iteration);
    return out;
  });
}

describe('MLPLOpt compiled kernel', () => {
  it('compiles and instantiates synchronously in Node (WebAssembly SIMD)', () => {
    expect(mlpLOptKernelAvailable()).toBe(true);
  });

  it('gives the JavaScript loops’ momenta exactly and their parameters to float32 round-off, and the plain ops’', () => {
    const start = tf.memory().numTensors;
    // Fused kernels run on cpu and wasm unless LOPT_FAST_PATHS=off: then all three are the plain ops.
    const fast = fastPathsEnabled();
    const expected = fastPathsActive() ? Object.keys(SHAPES).length * STEPS : 0;
    const before = mlpLOptKernelTensors();
    const compiled = run(fast, true);
    const ran = mlpLOptKernelTensors() - before;
    const loops = run(fast, false);
    const plain = run(false, true);
    expect(ran).toBe(expected);
    expect(mlpLOptKernelTensors() - before).toBe(ran);

    const m = compiled.rollingFeatures.m;
    expect(Array.from(m.dataSync())).toEqual(Array.from(loops.rollingFeatures.m.dataSync()));
    expectClose(m, plain.rollingFeatures.m, 1e-6);
    const initial = params();
    for (const n of Object.keys(SHAPES)) {
      const c = compiled.params[n]!;
      expectClose(c, loops.params[n]!, 2e-6);
      expectClose(c, plain.params[n]!, 2e-5);
      // The step moved every tensor (the comparison is not of unchanged values).
      const moved = tidy(() => tf.max(tf.abs(tf.sub(c, initial[n]!))).dataSync()[0]!);
      expect(moved).toBeGreaterThan(1e-3);
    }
    treeDispose(compiled, loops, plain, initial);
    expect(tf.memory().numTensors).toBe(start);
  });

  it('runs K stacked problems (vectorizedOptFn) as the loops and the plain ops do', () => {
    const start = tf.memory().numTensors;
    const fast = fastPathsEnabled();
    const before = mlpLOptKernelTensors();
    const compiled = runStacked(fast, true);
    expect(mlpLOptKernelTensors() - before).toBe(fastPathsActive() ? K * Object.keys(SHAPES).length * STEPS : 0);
    const loops = runStacked(fast, false);
    const plain = runStacked(false, true);
    compiled.forEach((c, i) => {
      expectClose(c, loops[i]!, 2e-6);
      expectClose(c, plain[i]!, 2e-5);
    });
    tf.dispose([...compiled, ...loops, ...plain]);
    expect(tf.memory().numTensors).toBe(start);
  });

  // The compiled kernel runs on the cpu and wasm backends only.
  it.skipIf(!['cpu', 'wasm'].includes(tf.getBackend()))(
    'gives NaN parameters, not finite ones, where a gradient holds a NaN (its ReLUs let a NaN through)',
    () => {
      const start = tf.memory().numTensors;
      const before = mlpLOptKernelTensors();
      const state = run(true, true, true);
      expect(mlpLOptKernelTensors() - before).toBe(Object.keys(SHAPES).length * STEPS);
      for (const n of Object.keys(SHAPES))
        expect(Array.from(state.params[n]!.dataSync()).every(Number.isNaN)).toBe(true);
      treeDispose(state);
      expect(tf.memory().numTensors).toBe(start);
    },
  );
});
