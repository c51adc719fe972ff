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
import { FUSED_ADAM_MAX_LEAF_SIZE } from './adam-op.js';

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
