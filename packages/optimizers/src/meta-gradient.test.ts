// Gradients through `update` with respect to hyperparameters, as learned optimizers take
// them: checked against central finite differences of a float64 reimplementation.

import { grad, tidy, treeDispose, valueAndGrad } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import {
  AdaBelief,
  Adafactor,
  AdaGrad,
  Adam,
  Adamax,
  AdamW,
  chain,
  type GradientTransformation,
  Lamb,
  Lars,
  NAdamW,
  OptaxOptimizer,
  type Optimizer,
  RAdam,
  RMSProp,
  SGDM,
  SM3,
  scaleByLearningRate,
  Yogi,
} from './index.js';
import { mapLike } from './tree-ops.js';

// Inner problem: loss(w) = sum(c (w - y)^2) over 3 entries; `dead` never enters the loss,
// so its gradient is exactly 0 at every step (a dead unit), as is w[0] since c[0] = 0.
const C = [0, 1.5, 0.7];
const Y = [0.3, -1.2, 2.0];
const W0 = [0.5, 0.4, -0.6];
const STEPS = 5;

interface Params {
  w: tf.Tensor;
  dead: tf.Tensor;
}

function innerLoss(p: Params): tf.Scalar {
  return tf.sum(tf.mul(tf.tensor1d(C), tf.square(tf.sub(p.w, tf.tensor1d(Y))))) as tf.Scalar;
}

/** The loss after STEPS updates of the optimizer `make(theta)` builds, as a function of theta. */
function metaLoss<T>(make: (theta: T) => Optimizer) {
  return (theta: T): tf.Scalar => {
    const opt = make(theta);
    const p0: Params = { w: tf.tensor1d(W0), dead: tf.tensor1d([0.1, -0.2]) };
    let state = opt.init(p0);
    for (let i = 0; i < STEPS; i++) {
      const g = grad(innerLoss)(opt.getParams(state) as Params);
      state = opt.update(state, g);
    }
    return innerLoss(opt.getParams(state) as Params);
  };
}

/** The same unrolled Adam / SGDM in float64 (dead entries contribute nothing to the loss). */
function adamF64(lr: number, b1: number, b2: number, eps: number, er: number): number {
  const w = [...W0];
  const m = [0, 0, 0];
  const v = [0, 0, 0];
  for (let t = 1; t <= STEPS; t++) {
    for (let i = 0; i < 3; i++) {
      const g = 2 * C[i]! * (w[i]! - Y[i]!);
      m[i] = b1 * m[i]! + (1 - b1) * g;
      v[i] = b2 * v[i]! + (1 - b2) * g * g;
      const mh = m[i]! / (1 - b1 ** t);
      const vh = v[i]! / (1 - b2 ** t);
      w[i] = w[i]! - (lr * mh) / (Math.sqrt(vh + er) + eps);
    }
  }
  return w.reduce((a, wi, i) => a + C[i]! * (wi - Y[i]!) ** 2, 0);
}

function sgdmF64(lr: number, mom: number): number {
  const w = [...W0];
  const tr = [0, 0, 0];
  for (let t = 1; t <= STEPS; t++) {
    for (let i = 0; i < 3; i++) {
      tr[i] = mom * tr[i]! + 2 * C[i]! * (w[i]! - Y[i]!);
      w[i] = w[i]! - lr * tr[i]!;
    }
  }
  return w.reduce((a, wi, i) => a + C[i]! * (wi - Y[i]!) ** 2, 0);
}

/** Central difference of a float64 function. */
function fd(f: (x: number) => number, x: number, h = 1e-6): number {
  return (f(x + h) - f(x - h)) / (2 * h);
}

function expectClose(got: number, want: number, rtol: number) {
  expect(Number.isFinite(got)).toBe(true);
  expect(Math.abs(got - want)).toBeLessThanOrEqual(rtol * Math.abs(want) + 1e-6);
}

interface AdamTheta {
  lr: tf.Scalar;
  b1: tf.Scalar;
  b2: tf.Scalar;
  eps: tf.Scalar;
}

describe('meta-gradients through update match finite differences', () => {
  for (const er of [0, 1e-8]) {
    test(`Adam (epsRoot ${er}) w.r.t. learning rate, betas and epsilon, with exact-zero gradients`, () => {
      const start = tf.memory().numTensors;
      const [lr, b1, b2, eps] = [0.1, 0.8, 0.95, 1e-3];
      const theta: AdamTheta = { lr: tf.scalar(lr), b1: tf.scalar(b1), b2: tf.scalar(b2), eps: tf.scalar(eps) };
      const f = metaLoss((t: AdamTheta) => new Adam(t.lr, { b1: t.b1, b2: t.b2, eps: t.eps, epsRoot: er }));
      const [value, g] = tidy(() => valueAndGrad(f)(theta));
      expectClose(value.dataSync()[0]!, adamF64(lr, b1, b2, eps, er), 1e-5);
      expectClose(
        g.lr.dataSync()[0]!,
        fd((x) => adamF64(x, b1, b2, eps, er), lr),
        2e-3,
      );
      expectClose(
        g.b1.dataSync()[0]!,
        fd((x) => adamF64(lr, x, b2, eps, er), b1),
        2e-3,
      );
      expectClose(
        g.b2.dataSync()[0]!,
        fd((x) => adamF64(lr, b1, x, eps, er), b2),
        2e-3,
      );
      expectClose(
        g.eps.dataSync()[0]!,
        fd((x) => adamF64(lr, b1, b2, x, er), eps),
        2e-3,
      );
      treeDispose(theta, value, g);
      expect(tf.memory().numTensors).toBe(start);
    });
  }

  test('SGDM w.r.t. learning rate and momentum', () => {
    const theta = { lr: tf.scalar(0.05), mom: tf.scalar(0.7) };
    const f = metaLoss((t: typeof theta) => new SGDM(t.lr, t.mom));
    const g = tidy(() => grad(f)(theta));
    expectClose(
      g.lr.dataSync()[0]!,
      fd((x) => sgdmF64(x, 0.7), 0.05),
      2e-3,
    );
    expectClose(
      g.mom.dataSync()[0]!,
      fd((x) => sgdmF64(0.05, x), 0.7),
      2e-3,
    );
    treeDispose(theta, g);
  });

  // The learning-rate gradient of the other optimizers, against central differences of the
  // same float32 computation (h = 1% of lr: truncation ~1e-4, rounding ~1e-5 relative).
  const others: [string, (lr: tf.Scalar) => Optimizer][] = [
    ['AdamW', (lr) => new AdamW(lr, { weightDecay: 0.1 })],
    ['NAdamW', (lr) => new NAdamW(lr, { weightDecay: 0.1 })],
    ['RMSProp', (lr) => new RMSProp(lr, { momentum: 0.5 })],
    ['AdaBelief', (lr) => new AdaBelief(lr)],
    ['AdaGrad', (lr) => new AdaGrad(lr)],
    ['RAdam', (lr) => new RAdam(lr)],
    ['Yogi', (lr) => new Yogi(lr)],
    ['Adamax', (lr) => new Adamax(lr)],
    ['Lamb', (lr) => new Lamb(lr)],
    ['Lars', (lr) => new Lars(lr, { trustCoefficient: 0.1 })],
    ['SM3', (lr) => new SM3(lr)],
    ['Adafactor', (lr) => new Adafactor(lr, { minDimSizeToFactor: 1 })],
    ['Adafactor (unfactored)', (lr) => new Adafactor(lr, { factored: false })],
  ];
  for (const [name, make] of others) {
    test(`${name} w.r.t. the learning rate`, () => {
      const lr0 = 0.05;
      const f = metaLoss(make);
      const value = (lr: number) => tf.tidy(() => f(tf.scalar(lr)).dataSync()[0]!);
      const lr = tf.scalar(lr0);
      const g = tidy(() => grad(f)(lr));
      const h = lr0 * 1e-2;
      const want = (value(lr0 + h) - value(lr0 - h)) / (2 * h);
      expect(Math.abs(want)).toBeGreaterThan(1e-2);
      expectClose(g.dataSync()[0]!, want, 1e-2);
      tf.dispose([lr, g]);
    });
  }

  test('a naive sqrt(v) + eps turns the same meta-gradient into NaN (what the safe form prevents)', () => {
    const naive = (lr: tf.Scalar): GradientTransformation<{ v: unknown }> => ({
      init: (p) => ({ v: mapLike((x) => tf.zerosLike(x), p) }),
      update: (u, s) => {
        const v = mapLike((x, g) => tf.add(tf.mul(x, 0.9), tf.mul(tf.square(g), 0.1)), s.v, u);
        return [mapLike((g, x) => tf.mul(tf.div(g, tf.add(tf.sqrt(x), 1e-8)), tf.neg(lr)), u, v), { v }];
      },
    });
    const f = (lr: tf.Scalar) => {
      const opt = new OptaxOptimizer(chain(naive(lr), scaleByLearningRate(1)));
      const p0: Params = { w: tf.tensor1d(W0), dead: tf.tensor1d([0.1, -0.2]) };
      let state = opt.init(p0);
      for (let i = 0; i < 3; i++) state = opt.update(state, grad(innerLoss)(opt.getParams(state) as Params));
      return innerLoss(opt.getParams(state) as Params);
    };
    const lr = tf.scalar(0.1);
    const g = tf.tidy(() => grad(f)(lr));
    expect(Number.isNaN(g.dataSync()[0])).toBe(true);
    tf.dispose([lr, g]);
  });
});
