// MLPLOpt and AdafacMLPLOpt run over all parameters at once (raveled, segment
// reductions). These tests compare them with a direct per-tensor transcription of the
// reference's formulas (one tensor at a time, reductions over the tensor's own axes).

import {
  fastPathCounts,
  fastPathsActive,
  random,
  resetFastPathCounts,
  setFastPathsEnabled,
  tidy,
  treeLeaves,
  valueAndGrad,
} from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { AdafacMLPLOpt, type AdafacMLPLOptState, type AdafacMLPLOptTheta } from './adafac-mlp-lopt.js';
import { factoredDims } from './factored-layout.js';
import { MLPLOpt, type MLPLOptState } from './mlp-lopt.js';
import type { Linear } from './nn.js';

type Params = Record<string, tf.Tensor>;
const TS = [1, 3, 10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000];

function makeParams(): Params {
  const k = random.split(random.PRNGKey(5), 4);
  return {
    a: random.normal(k[0]!, [4, 3]),
    b: random.normal(k[1]!, [3]),
    c: random.normal(k[2]!, [2, 3, 4]),
    d: tf.scalar(0.7),
    e: random.normal(k[3]!, [3, 3]),
  };
}
function makeGrads(i: number, params: Params): Params {
  const out: Params = {};
  for (const [j, [name, p]] of Object.entries(params).entries())
    out[name] = random.normal(random.PRNGKey(100 * i + j), p.shape);
  // An exact-zero gradient row, as dead units give.
  out.a = tf.mul(out.a!, tf.tensor2d([[1], [1], [0], [1]]));
  return out;
}

function mlp(layers: Linear[], x: tf.Tensor): tf.Tensor {
  let h = x;
  layers.forEach((l, i) => {
    h = tf.add(tf.matMul(h as tf.Tensor2D, l.w), l.b);
    if (i < layers.length - 1) h = tf.relu(h);
  });
  return h;
}
function normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), 0, true), 1e-5))) as tf.Tensor2D;
}
function tanhEmb(t: number): tf.Tensor2D {
  return tf.tensor2d([TS.map((s) => Math.tanh(t / s - 1))]);
}
function close(a: tf.Tensor, b: tf.Tensor, tol = 2e-5) {
  const x = a.dataSync();
  const y = b.dataSync();
  expect(x.length).toBe(y.length);
  x.forEach((v, i) => expect(Math.abs(v - y[i]!)).toBeLessThan(tol * (1 + Math.abs(y[i]!))));
}

describe('MLPLOpt', () => {
  it('has the reference MLP: 19 -> 32 -> 32 -> 2', () => {
    const theta = new MLPLOpt().init(random.PRNGKey(0));
    expect(theta.mlp.map((l) => l.w.shape)).toEqual([
      [19, 32],
      [32, 32],
      [32, 2],
    ]);
  });

  // Outside a gradient tape the step op runs its fused kernel (cpu, wasm); both paths must
  // match. The kernel's case is skipped where it cannot run, rather than run the plain ops twice.
  it.each([
    ['fused kernel', true],
    ['plain ops', false],
  ])('matches a per-tensor transcription of the reference update (%s)', (_, fused) => {
    if (fused && !fastPathsActive()) return;
    const previous = setFastPathsEnabled(fused);
    resetFastPathCounts();
    try {
      mlpLOptMatchesReference();
      const c = fastPathCounts()['MLPLOpt.step']!;
      if (fused) expect(c).toEqual({ fast: 3, plain: 0 });
      else expect(c).toEqual({ fast: 0, plain: 3 });
    } finally {
      setFastPathsEnabled(previous);
    }
  });

  // A leaf larger than the kernel's block of rows (16384) and a one-hidden-layer MLP take
  // the kernel's other branches.
  it.each([
    ['default sizes, a leaf of 20000', {}, [200, 100]],
    ['one hidden layer of 5', { hiddenSize: 5, hiddenLayers: 1 }, [7, 3]],
  ])('gives the same update and state through the fused kernel as through plain ops (%s)', (_, sizes, big) => {
    if (!fastPathsActive()) return; // no kernel here: nothing to compare the plain ops with
    const lopt = new MLPLOpt({ stepMult: 0.1, expMult: 0.5, ...sizes });
    const theta = lopt.init(random.PRNGKey(3));
    const start = (): Params => ({ ...makeParams(), big: random.normal(random.PRNGKey(11), big as number[]) });
    const before = tf.memory().numTensors;
    const run = (fused: boolean) => {
      const previous = setFastPathsEnabled(fused);
      resetFastPathCounts();
      try {
        return tidy(() => runSteps(fused));
      } finally {
        setFastPathsEnabled(previous);
      }
    };
    const runSteps = (fused: boolean) => {
      {
        const opt = lopt.optFn(theta);
        let params = start();
        let state = opt.init(params) as MLPLOptState<Params>;
        for (let it = 0; it < 3; it++) {
          const grads = makeGrads(it, params);
          const next = opt.update(state, grads) as MLPLOptState<Params>;
          tf.dispose([grads as never, state as never]);
          state = next;
          params = opt.getParams(state);
        }
        expect(fastPathCounts()['MLPLOpt.step']).toEqual(fused ? { fast: 3, plain: 0 } : { fast: 0, plain: 3 });
        return state;
      }
    };
    const a = run(true);
    const b = run(false);
    const la = treeLeaves(a as never) as tf.Tensor[];
    const lb = treeLeaves(b as never) as tf.Tensor[];
    expect(la.length).toBe(lb.length);
    la.forEach((x, i) => {
      expect(x.shape).toEqual(lb[i]!.shape);
      close(x, lb[i]!, 1e-4);
    });
    expect(a.iteration.dtype).toBe('int32');
    tf.dispose([a as never, b as never]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(theta as never);
  });

  // The kernel has no VJP: under a tape (first order) and under two nested tapes (second
  // order, a Hessian-vector product in theta) the reference runs. Its value must be the
  // kernel's, its gradient the finite difference of the kernel-evaluated loss, and its
  // Hessian-vector product the finite difference of the gradients.
  it('differentiates through the reference to first and second order, consistent with the kernel', () => {
    const lopt = new MLPLOpt({ stepMult: 0.1, expMult: 0.5 });
    const init = lopt.init(random.PRNGKey(4));
    const targets = makeGrads(7, makeParams());
    const loss = (mlp: Linear[]) => {
      const opt = lopt.optFn({ mlp });
      let params = makeParams();
      let state = opt.init(params);
      for (let it = 0; it < 2; it++) {
        state = opt.update(state, makeGrads(it, params));
        params = opt.getParams(state) as Params;
      }
      return tf.addN(Object.keys(params).map((k) => tf.sum(tf.square(tf.sub(params[k]!, targets[k]!))))) as tf.Scalar;
    };
    const dir = init.mlp.map((l, i) => ({
      w: random.normal(random.PRNGKey(50 + i), l.w.shape) as tf.Tensor2D,
      b: random.normal(random.PRNGKey(60 + i), l.b.shape) as tf.Tensor1D,
    }));
    const along = (mlp: Linear[], h: number) =>
      mlp.map((l, i) => ({
        w: tf.add(l.w, tf.mul(dir[i]!.w, h)) as tf.Tensor2D,
        b: tf.add(l.b, tf.mul(dir[i]!.b, h)) as tf.Tensor1D,
      }));
    const dot = (a: Linear[], b: Linear[]) =>
      tf.addN(a.flatMap((l, i) => [tf.sum(tf.mul(l.w, b[i]!.w)), tf.sum(tf.mul(l.b, b[i]!.b))])) as tf.Scalar;
    const gradAlong = (mlp: Linear[]) => dot(valueAndGrad(loss)(mlp)[1] as Linear[], dir);
    tidy(() => {
      resetFastPathCounts();
      const kernelValue = loss(init.mlp).dataSync()[0]!;
      const c0 = fastPathCounts()['MLPLOpt.step']!;
      if (fastPathsActive()) expect(c0).toEqual({ fast: 2, plain: 0 });
      resetFastPathCounts();
      const [v, g] = valueAndGrad(loss)(init.mlp);
      expect(fastPathCounts()['MLPLOpt.step']).toEqual({ fast: 0, plain: 2 });
      expect(Math.abs(v.dataSync()[0]! - kernelValue)).toBeLessThan(1e-5 * Math.abs(kernelValue));
      // First order: the directional derivative against central differences of the (kernel) loss.
      const h = 1e-3;
      const fd = (loss(along(init.mlp, h)).dataSync()[0]! - loss(along(init.mlp, -h)).dataSync()[0]!) / (2 * h);
      const ad = dot(g as Linear[], dir).dataSync()[0]!;
      expect(Math.abs(ad)).toBeGreaterThan(1e-3);
      expect(Math.abs(fd - ad)).toBeLessThan(2e-2 * Math.abs(ad));
      // Second order: the Hessian-vector product runs the reference under two tapes, and
      // equals the one with every fast path off. (Central differences of the gradient
      // cannot check it: the ReLU kinks make the gradient jump between theta +- h.)
      resetFastPathCounts();
      const hv = valueAndGrad(gradAlong)(init.mlp)[1] as Linear[];
      expect(fastPathCounts()['MLPLOpt.step']).toEqual({ fast: 0, plain: 2 });
      const previous = setFastPathsEnabled(false);
      const hvOff = valueAndGrad(gradAlong)(init.mlp)[1] as Linear[];
      setFastPathsEnabled(previous);
      const hvp = dot(hv, dir).dataSync()[0]!;
      expect(Number.isFinite(hvp)).toBe(true);
      expect(Math.abs(hvp)).toBeGreaterThan(1e-3);
      hv.forEach((l, i) => {
        close(l.w, hvOff[i]!.w, 1e-5);
        close(l.b, hvOff[i]!.b, 1e-5);
      });
    });
    tf.dispose([init as never, dir as never, targets as never]);
  });
});

describe('AdafacMLPLOpt', () => {
  it('factors the two largest dims, ties by position', () => {
    expect(factoredDims([4, 3])).toEqual([1, 0]);
    expect(factoredDims([2, 3, 4])).toEqual([1, 2]);
    expect(factoredDims([3, 3])).toEqual([0, 1]);
    expect(factoredDims([5])).toBeNull();
  });

  it('has the reference sizes: 39 inputs, hidden 4', () => {
    const theta = new AdafacMLPLOpt().init(random.PRNGKey(0));
    expect(theta.nn.map((l) => l.w.shape)).toEqual([
      [39, 4],
      [4, 4],
      [4, 2],
    ]);
    expect(theta.momentumDecays.shape).toEqual([3]);
    expect(theta.rmsDecays.shape).toEqual([1]);
    expect(theta.adafactorDecays.shape).toEqual([3]);
  });

  // Outside a gradient tape the step op runs its fused kernel (cpu, wasm); both paths must
  // match. The kernel's case is skipped where it cannot run, rather than run the plain ops twice.
  const active = fastPathsActive();
  it.each([
    ['fused kernel', true],
    ['plain ops', false],
  ])(
    'matches a per-tensor transcription of the reference update (matrices, rank 3, vector, scalar; %s)',
    (_, fused) => {
      if (fused && !active) return;
      const previous = setFastPathsEnabled(fused);
      resetFastPathCounts();
      try {
        adafacMatchesReference();
        const c = fastPathCounts()['AdafacMLPLOpt.step']!;
        if (fused) expect(c.fast).toBeGreaterThan(0);
        else expect(c).toEqual({ fast: 0, plain: c.plain });
      } finally {
        setFastPathsEnabled(previous);
      }
    },
  );

  it('runs the reference under a gradient tape (the kernel has no VJP)', () => {
    const lopt = new AdafacMLPLOpt({ stepMult: 0.1 });
    const theta = lopt.init(random.PRNGKey(2));
    resetFastPathCounts();
    const loss = (t: AdafacMLPLOptTheta) => {
      const opt = lopt.optFn(t);
      const s = opt.update(opt.init(makeParams()), makeGrads(0, makeParams()));
      return tf.addN(treeLeaves(opt.getParams(s) as never).map((x) => tf.sum(x as tf.Tensor))) as tf.Scalar;
    };
    const [v, g] = tidy(() => valueAndGrad(loss)(theta));
    const c = fastPathCounts()['AdafacMLPLOpt.step']!;
    expect(c).toEqual({ fast: 0, plain: 1 });
    expect(treeLeaves(g as never).some((x) => (x as tf.Tensor).dataSync().some((y) => y !== 0))).toBe(true);
    tf.dispose([v, g as never, theta as never]);
  });

  // The default sizes take the kernel's unrolled loops, the others its general ones.
  it.each([
    ['default sizes', {}],
    [
      'hidden 3, two decays',
      { hiddenSize: 3, initialMomentumDecays: [0.9, 0.99], initialAdafactorDecays: [0.8, 0.999] },
    ],
  ])('gives the same update and state through the fused kernel as through plain ops (%s)', (_, sizes) => {
    if (!active) return; // no kernel here: nothing to compare the plain ops with
    const lopt = new AdafacMLPLOpt({ stepMult: 0.1, expMult: 0.5, ...sizes });
    const init = lopt.init(random.PRNGKey(3));
    const theta = { ...init, adafactorDecays: tf.add(init.adafactorDecays, 0.02) as tf.Tensor1D };
    const run = (fused: boolean) => {
      const previous = setFastPathsEnabled(fused);
      resetFastPathCounts();
      try {
        const opt = lopt.optFn(theta);
        let params = makeParams();
        let state = opt.init(params) as AdafacMLPLOptState<Params>;
        for (let it = 0; it < 3; it++) {
          state = opt.update(state, makeGrads(it, params)) as AdafacMLPLOptState<Params>;
          params = opt.getParams(state);
        }
        expect(fastPathCounts()['AdafacMLPLOpt.step']!.fast > 0).toBe(fused);
        return state;
      } finally {
        setFastPathsEnabled(previous);
      }
    };
    const a = run(true);
    const b = run(false);
    const la = treeLeaves(a as never) as tf.Tensor[];
    const lb = treeLeaves(b as never) as tf.Tensor[];
    expect(la.length).toBe(lb.length);
    la.forEach((x, i) => {
      expect(x.shape).toEqual(lb[i]!.shape);
      close(x, lb[i]!, 1e-4);
    });
    expect(a.iteration.dtype).toBe('int32');
  });
});

function adafacMatchesReference(): void {
  {
    const lopt = new AdafacMLPLOpt({ stepMult: 0.1, expMult: 0.5 });
    const init = lopt.init(random.PRNGKey(1));
    // Non-zero decay offsets, so the learned decays are exercised.
    const theta: AdafacMLPLOptTheta = {
      ...init,
      momentumDecays: tf.tensor1d([0.05, -0.02, 0.01]),
      rmsDecays: tf.tensor1d([0.03]),
      adafactorDecays: tf.tensor1d([-0.01, 0.02, 0.04]),
    };
    const opt = lopt.optFn(theta);
    let params = makeParams();
    let state = opt.init(params, { numSteps: 3 }) as AdafacMLPLOptState<Params>;
    const decay = (init: number[], off: tf.Tensor) =>
      tf.sub(1, tf.exp(tf.mul(tf.add(tf.tensor1d(init.map((x) => Math.log(1 - x) / 10)), off), 10)));
    const md = decay([0.9, 0.99, 0.999], theta.momentumDecays);
    const rd = decay([0.999], theta.rmsDecays);
    const fd = decay([0.9, 0.99, 0.999], theta.adafactorDecays);
    const keys = Object.keys(params).sort();
    const acc: Record<string, { m: tf.Tensor; rms: tf.Tensor; vr: tf.Tensor; vc: tf.Tensor; v: tf.Tensor }> = {};
    for (const k of keys) {
      const sh = params[k]!.shape;
      const f = factoredDims(sh);
      acc[k] = {
        m: tf.zeros([...sh, 3]),
        rms: tf.zeros([...sh, 1]),
        vr: f ? tf.zeros([...sh.filter((_, i) => i !== f[1]), 3]) : tf.zeros([0]),
        vc: f ? tf.zeros([...sh.filter((_, i) => i !== f[0]), 3]) : tf.zeros([0]),
        v: f ? tf.zeros([0]) : tf.zeros([...sh, 3]),
      };
    }
    for (let it = 0; it < 3; it++) {
      const grads = makeGrads(it, params);
      state = opt.update(state, grads) as AdafacMLPLOptState<Params>;
      const next: Params = {};
      for (const k of keys) {
        const p = params[k]!;
        const g = grads[k]!;
        const a = acc[k]!;
        const ge = tf.expandDims(g, -1);
        const m = tf.add(tf.mul(md, a.m), tf.mul(tf.sub(1, md), ge));
        const rms = tf.add(tf.mul(rd, a.rms), tf.mul(tf.sub(1, rd), tf.square(ge)));
        const gsq = tf.add(tf.square(ge), 1e-30);
        const f = factoredDims(p.shape);
        let facG: tf.Tensor;
        let rowF: tf.Tensor;
        let colF: tf.Tensor;
        let facMom: tf.Tensor;
        if (f) {
          const [d1, d0] = f;
          const vr = tf.add(tf.mul(fd, a.vr), tf.mul(tf.sub(1, fd), tf.mean(gsq, d0)));
          const vc = tf.add(tf.mul(fd, a.vc), tf.mul(tf.sub(1, fd), tf.mean(gsq, d1)));
          a.vr = vr;
          a.vc = vc;
          const rd1 = d1 > d0 ? d1 - 1 : d1;
          const rowFactor = tf.rsqrt(tf.maximum(tf.div(vr, tf.add(tf.mean(vr, rd1, true), 1e-9)), 1e-9));
          const colFactor = tf.rsqrt(tf.maximum(vc, 1e-9));
          const scale = tf.mul(tf.expandDims(rowFactor, d0), tf.expandDims(colFactor, d1));
          facG = tf.mul(ge, scale);
          facMom = tf.mul(m, scale);
          rowF = tf.mul(tf.expandDims(vr, d0), tf.onesLike(m));
          colF = tf.mul(tf.expandDims(vc, d1), tf.onesLike(m));
        } else {
          const v = tf.add(tf.mul(fd, a.v), tf.mul(tf.sub(1, fd), gsq));
          a.v = v;
          facG = tf.mul(ge, tf.rsqrt(tf.maximum(tf.add(v, 1e-9), 1e-9)));
          rowF = v;
          colF = v;
          facMom = tf.mul(m, tf.pow(tf.add(v, 1e-6), -0.5));
        }
        a.m = m;
        a.rms = rms;
        const r = tf.rsqrt(tf.add(rms, 1e-6));
        const feats = [ge, tf.expandDims(p, -1), m, rms, tf.mul(m, r), r, facG, rowF, colF];
        feats.push(tf.rsqrt(tf.add(rowF, 1e-8)), tf.rsqrt(tf.add(colF, 1e-8)), facMom);
        const inp = normalize(tf.reshape(tf.concat(feats, -1), [Math.max(p.size, 1), -1]) as tf.Tensor2D);
        const full = tf.concat([inp, tf.tile(tanhEmb(it), [inp.shape[0], 1])], 1);
        const out = mlp(theta.nn, full);
        const step = tf.mul(
          tf.mul(tf.slice(out, [0, 0], [-1, 1]), tf.exp(tf.mul(tf.slice(out, [0, 1], [-1, 1]), 0.5))),
          0.1,
        );
        next[k] = tf.sub(p, tf.reshape(step, p.shape));
      }
      params = next;
    }
    const got = opt.getParams(state);
    for (const k of keys) close(got[k]!, params[k]!, 1e-4);
  }
}

function mlpLOptMatchesReference(): void {
  const lopt = new MLPLOpt({ stepMult: 0.01, expMult: 0.5 });
  const theta = lopt.init(random.PRNGKey(1));
  const opt = lopt.optFn(theta);
  let params = makeParams();
  let state = opt.init(params) as MLPLOptState<Params>;
  const decays = tf.tensor1d([0.1, 0.5, 0.9, 0.99, 0.999, 0.9999]);
  let moms: Params = Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.zeros([...p.shape, 6])]));
  for (let it = 0; it < 3; it++) {
    const grads = makeGrads(it, params);
    state = opt.update(state, grads) as MLPLOptState<Params>;
    const next: Params = {};
    const nextMoms: Params = {};
    for (const k of Object.keys(params).sort()) {
      const p = params[k]!;
      const g = grads[k]!;
      const m = tf.add(tf.mul(decays, moms[k]!), tf.mul(tf.sub(1, decays), tf.expandDims(g, -1)));
      nextMoms[k] = m;
      const inp = normalize(
        tf.concat([tf.reshape(g, [-1, 1]), tf.reshape(p, [-1, 1]), tf.reshape(m, [-1, 6])], 1) as tf.Tensor2D,
      );
      const full = tf.concat([inp, tf.tile(tanhEmb(it), [inp.shape[0], 1])], 1);
      const out = mlp(theta.mlp, full);
      const step = tf.mul(
        tf.mul(tf.slice(out, [0, 0], [-1, 1]), tf.exp(tf.mul(tf.slice(out, [0, 1], [-1, 1]), 0.5))),
        0.01,
      );
      next[k] = tf.sub(p, tf.reshape(step, p.shape));
    }
    params = next;
    moms = nextMoms;
  }
  const got = opt.getParams(state);
  for (const k of Object.keys(params)) close(got[k]!, params[k]!);
}
