import {
  fastPathCounts,
  fastPathsActive,
  grad,
  type PyTree,
  random,
  resetFastPathCounts,
  setFastPathsEnabled,
  treeDispose,
  treeLeaves,
  valueAndGrad,
} from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, test } from 'vitest';
import { Adam } from '../optimizers/adam.js';
import { type AdamStepOutputs, adamStep, FUSED_ADAM_MAX_LEAF_SIZE, stackedAdamStep } from './adam-op.js';

// The kernel is compared with its plain-op reference only where it can run (cpu and wasm,
// fast paths on): elsewhere these tests are skipped rather than compare the reference
// with itself. `run(fast)` below also checks, by the op's counters, which path ran.
const active = fastPathsActive();
const initial = active;
afterEach(() => {
  setFastPathsEnabled(initial);
});

/** Runs `fn` with fast paths on or off and checks which path `adamStep` took. */
function onPath<T>(fast: boolean, fn: () => T): T {
  setFastPathsEnabled(fast);
  resetFastPathCounts();
  const out = fn();
  const c = fastPathCounts().adamStep!;
  if (fast) expect(c.fast, 'the fused kernel ran').toBeGreaterThan(0);
  else expect(c.fast, 'only the reference ran').toBe(0);
  expect(c.plain + c.fast).toBeGreaterThan(0);
  return out;
}

const params = () => ({ w: random.normal(random.PRNGKey(1), [5, 3]), b: tf.zeros([3]) });
// Gradients with exact zeros in them, as dead ReLU units give.
const grads = (i: number) => {
  const g = random.normal(random.PRNGKey(100 + i), [5, 3]);
  return { w: tf.mul(g, tf.cast(tf.greater(g, 0.3), 'float32')), b: random.normal(random.PRNGKey(200 + i), [3]) };
};

/** The loss after `steps` Adam updates whose hyperparameters come from `h`. */
function unrolled(h: tf.Tensor, epsRoot: number, steps = 6): tf.Scalar {
  const at = (i: number) => tf.reshape(tf.slice(h, [i], [1]), []);
  const lr = tf.exp(at(0));
  const b1 = tf.sub(1, tf.exp(at(1)));
  const b2 = tf.sub(1, tf.exp(at(2)));
  const eps = tf.exp(at(3));
  const opt = new Adam(lr as tf.Scalar, { b1: b1 as tf.Scalar, b2: b2 as tf.Scalar, eps: eps as tf.Scalar, epsRoot });
  let s = opt.init(params());
  for (let i = 0; i < steps; i++) s = opt.update(s, grads(i));
  const p = opt.getParams(s);
  return tf.add(tf.sum(tf.square(p.w)), tf.sum(tf.mul(p.b, tf.tensor([1, -2, 3])))) as tf.Scalar;
}

describe.skipIf(!active).each([1e-8, 0])(
  'the adamStep kernel (epsRoot %s) equals its plain-op reference',
  (epsRoot) => {
    test('values and hyperparameter gradients through six updates', () => {
      const h = tf.tensor([Math.log(0.05), Math.log(0.1), Math.log(0.001), Math.log(1e-3)]);
      const before = tf.memory().numTensors;
      const run = (fused: boolean) =>
        onPath(fused, () => tf.tidy(() => valueAndGrad((x: tf.Tensor) => unrolled(x, epsRoot))(h)));
      const [vf, gf] = run(true);
      const [vp, gp] = run(false);
      expect(Math.abs(vf.dataSync()[0]! - vp.dataSync()[0]!)).toBeLessThan(1e-5 * Math.abs(vp.dataSync()[0]!));
      const a = gf.dataSync();
      const b = gp.dataSync();
      for (let i = 0; i < 4; i++) {
        expect(Number.isFinite(a[i]!)).toBe(true);
        expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(2e-3 * Math.abs(b[i]!) + 1e-6);
      }
      tf.dispose([vf, gf, vp, gp]);
      expect(tf.memory().numTensors).toBe(before);
      h.dispose();
    });

    test('state after updates matches', () => {
      const run = (fused: boolean) =>
        onPath(fused, () => {
          const opt = new Adam(0.01, { epsRoot });
          let s = opt.init(params());
          for (let i = 0; i < 5; i++) {
            const g = grads(i);
            const n = opt.update(s, g);
            treeDispose(s, g);
            s = n;
          }
          return s;
        });
      const sf = run(true);
      const sp = run(false);
      const lf = treeLeaves(sf as unknown as PyTree);
      treeLeaves(sp as unknown as PyTree).forEach((x, i) => {
        const a = lf[i]!.dataSync();
        const b = x.dataSync();
        for (let j = 0; j < b.length; j++) expect(Math.abs(a[j]! - b[j]!)).toBeLessThan(1e-6 + 1e-5 * Math.abs(b[j]!));
      });
      treeDispose(sf, sp);
    });
  },
);

test.skipIf(!active)(
  'a learned beta1 pushed below 0 keeps updates and gradients finite (kernel and reference agree)',
  () => {
    // Meta-training can move 1 - exp(oneMinusBeta1) below 0; the reference's pow-based bias
    // correction stays defined there, so must ours.
    const h = tf.tensor([Math.log(0.05), Math.log(1.3), Math.log(0.001), Math.log(1e-3)]);
    const run = (fused: boolean) =>
      onPath(fused, () => tf.tidy(() => valueAndGrad((x: tf.Tensor) => unrolled(x, 1e-8))(h)));
    const [vf, gf] = run(true);
    const [vp, gp] = run(false);
    expect(Number.isFinite(vf.dataSync()[0]!)).toBe(true);
    expect(Math.abs(vf.dataSync()[0]! - vp.dataSync()[0]!)).toBeLessThan(1e-4 * Math.abs(vp.dataSync()[0]!));
    const a = gf.dataSync();
    const b = gp.dataSync();
    for (let i = 0; i < 4; i++) {
      expect(Number.isFinite(a[i]!)).toBe(true);
      expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(2e-3 * Math.abs(b[i]!) + 1e-5);
    }
    tf.dispose([vf, gf, vp, gp, h]);
  },
);

test.skipIf(!active)('second derivatives through Adam run the reference and equal the plain path', () => {
  // d/dh of (d unrolled / dh . u): the forward runs under two tapes, deeper than the
  // kernel's VJP can be differentiated, so adamStep runs its reference there.
  const h = tf.tensor([Math.log(0.05), Math.log(0.1), Math.log(0.001), Math.log(1e-3)]);
  const u = tf.tensor([0.3, -0.2, 0.5, 0.1]);
  const hvp = (x: tf.Tensor) => tf.sum(tf.mul(grad((y: tf.Tensor) => unrolled(y, 1e-8, 3))(x), u)) as tf.Scalar;
  const second = (fast: boolean) => {
    setFastPathsEnabled(fast);
    resetFastPathCounts();
    const out = tf.tidy(() => grad(hvp)(h));
    const c = fastPathCounts().adamStep!;
    expect(c.fast).toBe(0);
    expect(c.plain).toBeGreaterThan(0);
    return out;
  };
  const a = second(true);
  const b = second(false);
  const x = a.dataSync();
  const y = b.dataSync();
  expect(Array.from(x).every(Number.isFinite)).toBe(true);
  expect(Math.max(...Array.from(y).map(Math.abs))).toBeGreaterThan(0);
  for (let i = 0; i < 4; i++) expect(Math.abs(x[i]! - y[i]!)).toBeLessThan(1e-4 * Math.abs(y[i]!) + 1e-6);
  tf.dispose([a, b, h, u]);
});

test('where the kernel runs: small float32 leaves on cpu and wasm, never Nesterov or above the size limit', () => {
  resetFastPathCounts();
  const opt = new Adam(0.01);
  const s = opt.init({ small: tf.zeros([3, 4]), large: tf.zeros([FUSED_ADAM_MAX_LEAF_SIZE + 1]) });
  const next = opt.update(s, { small: tf.ones([3, 4]), large: tf.ones([FUSED_ADAM_MAX_LEAF_SIZE + 1]) });
  const c = fastPathCounts().adamStep!;
  // One call for the small leaves, one for the large: the large always runs the reference.
  if (active) expect(c).toEqual({ fast: 1, plain: 1 });
  else expect(c).toEqual({ fast: 0, plain: 2 });
  treeDispose(s, next);
});

describe('stackedAdamStep (K problems, per-problem hyperparameters)', () => {
  // Its kernel (no tape) runs adamStep's fused arithmetic for all K problems in one call;
  // it must give K separate adamStep calls' values, as its broadcast reference does.
  test('kernel, broadcast reference and K separate adamStep calls agree; no tensor leaks', () => {
    const K = 3;
    const start = tf.memory().numTensors;
    const shapes = [
      [4, 3],
      [2, 5],
    ];
    const leaves = (seed: number, scale: number) =>
      tf.tidy(() => shapes.map((s, i) => tf.mul(random.normal(random.PRNGKey(seed + i), [K, ...s]), scale)));
    const g = leaves(10, 1);
    const m = leaves(20, 0.1);
    const v = tf.tidy(() => leaves(30, 0.1).map((x) => tf.square(x)));
    const hp = {
      b1: tf.tensor1d([0.9, 0.8, 0.95]),
      b2: tf.tensor1d([0.999, 0.99, 0.9]),
      eps: tf.tensor1d([1e-8, 1e-3, 1e-6]),
      epsRoot: 1e-8,
      nesterov: false,
      factor: tf.tensor1d([-1e-3, -0.1, -1]),
      count: tf.tensor1d([0, 4, 99], 'int32'),
    };
    const read = (o: AdamStepOutputs) => o.flat().map((x) => Array.from(x.dataSync()));
    const run = (fast: boolean) => {
      setFastPathsEnabled(fast);
      resetFastPathCounts();
      const out = tf.tidy(() => read(stackedAdamStep(g, m, v, hp)));
      return { out, count: fastPathCounts()['adamStep.stacked']! };
    };
    const fast = run(true);
    const ref = run(false);
    if (active) expect(fast.count).toEqual({ fast: 1, plain: 0 });
    expect(ref.count).toEqual({ fast: 0, plain: 1 });
    // K separate single-problem steps (fast paths on: adamStep's own kernel where it runs).
    setFastPathsEnabled(initial);
    const separate = tf.tidy(() => {
      const per = Array.from({ length: K }, (_, k) => {
        const at = (x: tf.Tensor) => tf.reshape(tf.slice(x, [k], [1]), x.shape.slice(1));
        const pick = (x: tf.Tensor) => tf.reshape(tf.slice(x, [k], [1]), []);
        return adamStep(g.map(at), m.map(at), v.map(at), {
          ...hp,
          b1: pick(hp.b1),
          b2: pick(hp.b2),
          eps: pick(hp.eps),
          factor: pick(hp.factor),
          count: pick(hp.count),
        });
      });
      return read(
        [0, 1, 2].map((j) => per[0]![j]!.map((_, i) => tf.stack(per.map((p) => p[j]![i]!)))) as AdamStepOutputs,
      );
    });
    for (const other of [ref.out, separate]) {
      expect(other.length).toBe(fast.out.length);
      other.forEach((xs, i) =>
        xs.forEach((x, j) => {
          const w = fast.out[i]![j]!;
          expect(Math.abs(x - w), `output ${i} entry ${j}`).toBeLessThanOrEqual(1e-5 * (1e-3 + Math.abs(w)));
        }),
      );
    }
    treeDispose([g, m, v, hp.b1, hp.b2, hp.eps, hp.factor, hp.count] as unknown as PyTree);
    expect(tf.memory().numTensors).toBe(start);
  });
});
