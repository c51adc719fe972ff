// The compiled (WebAssembly SIMD) kernel of AdafacMLPLOpt's fused step against the fused
// step's JavaScript loops and against the plain-op reference, on whichever backend the
// tests run (wasm, cpu) and with the fast paths off.

import { fastPathsActive, fastPathsEnabled, random, setFastPathsEnabled, tidy, treeDispose } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { adafacKernel, adafacKernelTensors, setAdafacKernelEnabled } from './adafac-kernel.js';
import { AdafacMLPLOpt, type AdafacMLPLOptState } from './adafac-mlp-lopt.js';

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
};
const KERNEL_TENSORS = 8; // all but the rank-3 one
const STEPS = 3;

function params(): Params {
  return tidy(() => {
    const k = random.split(random.PRNGKey(11), 9);
    return Object.fromEntries(Object.entries(SHAPES).map(([n, s], i) => [n, random.normal(k[i]!, s)]));
  });
}

// Gradients that do not depend on the parameters: the accumulators then depend only on
// them, so every path must give the same accumulators.
function grads(step: number): Params {
  return tidy(() => {
    const k = random.split(random.PRNGKey(100 + step), 9);
    return Object.fromEntries(
      Object.entries(SHAPES).map(([n, s], i) => [n, tf.mul(random.normal(k[i]!, s), 0.1 * (i + 1))]),
    );
  });
}

function run(fast: boolean, kernelOn: boolean): AdafacMLPLOptState<Params> {
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
    let state = opt.init(params(), { numSteps: 10 }) as AdafacMLPLOptState<Params>;
    for (let s = 0; s < STEPS; s++) {
      const g = grads(s);
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

function expectClose(a: tf.Tensor, b: tf.Tensor, tol: number): void {
  expect(a.shape).toEqual(b.shape);
  const x = a.dataSync();
  const y = b.dataSync();
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!) / (1 + Math.abs(y[i]!)));
  expect(worst).toBeLessThan(tol);
}

describe('AdafacMLPLOpt compiled kernel', () => {
  it('compiles and instantiates synchronously in Node (WebAssembly SIMD)', () => {
    expect(adafacKernel()).toBeDefined();
  });

  it('gives the JavaScript loops’ accumulators exactly and their parameters to float32 round-off, and the plain ops’', () => {
    const start = tf.memory().numTensors;
    // Fused kernels run on cpu and wasm unless LOPT_FAST_PATHS=off: then all three are the plain ops.
    const fast = fastPathsEnabled();
    const expected = fastPathsActive() ? KERNEL_TENSORS * STEPS : 0;
    const before = adafacKernelTensors();
    const compiled = run(fast, true);
    const ran = adafacKernelTensors() - before;
    const loops = run(fast, false);
    const plain = run(false, true);
    expect(ran).toBe(expected);
    expect(adafacKernelTensors() - before).toBe(ran);

    const ca = accumulators(compiled);
    const la = accumulators(loops);
    ca.forEach((x, i) => expect(Array.from(x.dataSync())).toEqual(Array.from(la[i]!.dataSync())));
    for (const n of Object.keys(SHAPES)) {
      const c = compiled.params[n]!;
      // The step moved every parameter (the comparison is not of unchanged values).
      expectClose(c, loops.params[n]!, 2e-6);
      expectClose(c, plain.params[n]!, 1e-4);
      const moved = tidy(() => tf.max(tf.abs(tf.sub(c, params()[n]!))).dataSync()[0]!);
      expect(moved).toBeGreaterThan(1e-3);
    }
    accumulators(plain).forEach((x, i) => expectClose(ca[i]!, x, 1e-5));
    treeDispose(compiled, loops, plain);
    expect(tf.memory().numTensors).toBe(start);
  });
});
