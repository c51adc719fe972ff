// The compiled (WebAssembly SIMD) kernel of AdafacMLPLOpt's fused step against the fused
// step's JavaScript loops and against the plain-op reference, on whichever backend the
// tests run (wasm, cpu) and with the fast paths off.

import { fastPathsActive, fastPathsEnabled, random, setFastPathsEnabled, tidy, treeDispose } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { adafacKernel, adafacKernelOn, adafacKernelTensors, setAdafacKernelEnabled } from './adafac-kernel.js';
import { AdafacMLPLOpt, type AdafacMLPLOptState } from './adafac-mlp-lopt.js';
import { expectClose, firstNaN } from './test-tasks.js';

type Params = Record<string, tf.Tensor>;

// Rank-2 tensors both ways round (rows = first dim when the second is larger, else the
// second; widths that are and are not multiples of the kernel's 4 lanes, down to 1), a
// square one, vectors, a scalar (unfactored) and a rank-3 tensor (the
// JavaScript loops, beside the kernel's tensors in the same step).
const SHAPES: Record<string, number[]> = {
  a: [37, 21],
  b: [13, 50],
  c: [9, 9],
  d: [31],
  e: [],
  f: [3, 4, 5],
  g: [120, 80],
  h: [1, 7],
  i: [6, 1],
  // Rows and a vector longer than the four-wide first passes add up in float32 before float64 (1024).
  j: [3, 1101],
  k: [1503],
};
const KERNEL_TENSORS = 10; // all but the rank-3 one
// Without the rank-3 tensor the kernel takes every tensor, and on the wasm backend it works
// in the backend's memory.
const IN_KERNEL: Record<string, number[]> = Object.fromEntries(Object.entries(SHAPES).filter(([n]) => n !== 'f'));
const STEPS = 3;

function params(shapes = SHAPES): Params {
  return tidy(() => {
    const k = random.split(random.PRNGKey(11), Object.keys(shapes).length);
    return Object.fromEntries(Object.entries(shapes).map(([n, s], i) => [n, random.normal(k[i]!, s)]));
  });
}

// Gradients that do not depend on the parameters: the accumulators then depend only on
// them, so every path must give the same accumulators.
function grads(step: number, shapes = SHAPES, nan = false): Params {
  return tidy(() => {
    const k = random.split(random.PRNGKey(100 + step), Object.keys(shapes).length);
    return Object.fromEntries(
      Object.entries(shapes).map(([n, s], i) => [
        n,
        tf.mul(random.normal(k[i]!, s), nan ? firstNaN(s) : 0.1 * (i + 1)),
      ]),
    );
  });
}

function run(fast: boolean, kernelOn: boolean, shapes = SHAPES, nan = false): AdafacMLPLOptState<Params> {
  const fastBefore = setFastPathsEnabled(fast);
  const kernelBefore = setAdafacKernelEnabled(kernelOn);
  try {
    const lopt = new AdafacMLPLOpt({ stepMult: 0.1, expMult: 0.5 });
    const init = lopt.init(random.PRNGKey(3));
    // Learned decays off their initial values, so the kernel reads them rather than constants.
    const theta = {
      ...init,
      momentumDecays: tf.tensor1d([0.05, -0.02, 0.01]),
      adafactorDecays: tf.tensor1d([-0.01, 0.02, 0.04]),
    };
    const opt = lopt.optFn(theta);
    let state = opt.init(params(shapes), { numSteps: 10 }) as AdafacMLPLOptState<Params>;
    for (let s = 0; s < STEPS; s++) {
      const g = grads(s, shapes, nan);
      const next = tidy(() => opt.update(state, g)) as AdafacMLPLOptState<Params>;
      treeDispose(state, g);
      state = next;
    }
    treeDispose(init, theta);
    return state;
  } finally {
    setFastPathsEnabled(fastBefore);
    setAdafacKernelEnabled(kernelBefore);
  }
}

function accumulators(s: AdafacMLPLOptState<Params>): tf.Tensor[] {
  const f = s.facRollingFeatures;
  return [s.momRolling.m, s.rmsRolling.rms, f.vRow, f.vCol, f.vDiag];
}

describe('AdafacMLPLOpt compiled kernel', () => {
  it('compiles and instantiates synchronously in Node (WebAssembly SIMD)', () => {
    expect(adafacKernel()).toBeDefined();
  });

  it('instantiates on another memory in the background where a synchronous instance is refused', async () => {
    expect(adafacKernel()).toBeDefined();
    const memory = new WebAssembly.Memory({ initial: 2 });
    const bytes = new Uint8Array(memory.buffer);
    bytes.fill(7);
    const Instance = WebAssembly.Instance;
    // As a browser's main thread refuses a large module's synchronous instance.
    (WebAssembly as { Instance: unknown }).Instance = function refused() {
      throw new RangeError('WebAssembly.Instance is disallowed on the main thread');
    };
    try {
      expect(adafacKernelOn(memory)).toBeUndefined();
    } finally {
      (WebAssembly as { Instance: unknown }).Instance = Instance;
    }
    // Undefined until the background instance is ready, then that instance, on that memory.
    expect(adafacKernelOn(memory)).toBeUndefined();
    await new Promise((r) => setTimeout(r, 50));
    const k = adafacKernelOn(memory);
    expect(k).toBeDefined();
    expect(k!.memory).toBe(memory);
    // The module holds no data: instantiating it wrote nothing into the memory it runs on.
    expect(bytes.every((b) => b === 7)).toBe(true);
  });

  function compare(shapes: Record<string, number[]>, inPlace: number): void {
    const start = tf.memory().numTensors;
    // Fused kernels run on cpu and wasm unless LOPT_FAST_PATHS=off: then all three are the plain ops.
    const fast = fastPathsEnabled();
    const expected = fastPathsActive() ? KERNEL_TENSORS * STEPS : 0;
    const before = adafacKernelTensors();
    const beforeInPlace = adafacKernelTensors(true);
    const compiled = run(fast, true, shapes);
    const ran = adafacKernelTensors() - before;
    const ranInPlace = adafacKernelTensors(true) - beforeInPlace;
    const loops = run(fast, false, shapes);
    const plain = run(false, true, shapes);
    expect(ran).toBe(expected);
    expect(ranInPlace).toBe(fastPathsActive() ? inPlace : 0);
    expect(adafacKernelTensors() - before).toBe(ran);

    const ca = accumulators(compiled);
    const la = accumulators(loops);
    ca.forEach((x, i) => expect(Array.from(x.dataSync())).toEqual(Array.from(la[i]!.dataSync())));
    for (const n of Object.keys(shapes)) {
      const c = compiled.params[n]!;
      // The step moved every parameter (the comparison is not of unchanged values).
      expectClose(c, loops.params[n]!, 2e-6);
      expectClose(c, plain.params[n]!, 1e-4);
      const moved = tidy(() => tf.max(tf.abs(tf.sub(c, params(shapes)[n]!))).dataSync()[0]!);
      expect(moved).toBeGreaterThan(1e-3);
    }
    accumulators(plain).forEach((x, i) => expectClose(ca[i]!, x, 1e-5));
    treeDispose(compiled, loops, plain);
    expect(tf.memory().numTensors).toBe(start);
  }

  it('gives the JavaScript loops’ accumulators exactly and their parameters to float32 round-off, and the plain ops’', () => {
    // A rank-3 tensor among them: the kernel runs on its own memory (copies in and out).
    compare(SHAPES, 0);
  });

  it('gives the same in the wasm backend’s memory when it takes every tensor', () => {
    // On the wasm backend the kernel then reads and writes the tensors where they are.
    compare(IN_KERNEL, tf.getBackend() === 'wasm' ? KERNEL_TENSORS * STEPS : 0);
  });

  // The compiled kernel runs on the cpu and wasm backends only.
  it.skipIf(!['cpu', 'wasm'].includes(tf.getBackend()))(
    'gives NaN parameters, not finite ones, where a gradient holds a NaN (its ReLUs let a NaN through)',
    () => {
      const start = tf.memory().numTensors;
      const before = adafacKernelTensors();
      const state = run(true, true, IN_KERNEL, true);
      expect(adafacKernelTensors() - before).toBe(KERNEL_TENSORS * STEPS);
      for (const n of Object.keys(IN_KERNEL))
        expect(Array.from(state.params[n]!.dataSync()).every(Number.isNaN)).toBe(true);
      treeDispose(state);
      expect(tf.memory().numTensors).toBe(start);
    },
  );
});
