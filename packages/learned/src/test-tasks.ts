// Small tasks for this package's tests (not exported): a tiny ReLU MLP on synthetic
// data with dead hidden units, and a quadratic, a tolerance check of tensors, and a NaN
// poisoning factor for gradients. Written
// with tf ops so the tests do not depend on @lopt/tasks.

import type { Optimizer } from '@lopt/optimizers';
import { grad, logSoftmax, type PRNGKey, random, treeDispose, treeMap, valueAndGrad } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import type { LearnedOptimizer } from './learned-optimizer.js';
import { tidyTree } from './tidy-tree.js';

/** Parameters of the tiny MLP. */
export interface TinyParams {
  w1: tf.Tensor2D;
  b1: tf.Tensor1D;
  w2: tf.Tensor2D;
  b2: tf.Tensor1D;
}

/** A batch of the tiny task. */
export interface TinyBatch {
  x: tf.Tensor2D;
  y: tf.Tensor1D;
}

/** A minimal task shape: init and loss. */
export interface SmallTask<P, D> {
  init(key: PRNGKey): P;
  loss(params: P, key: PRNGKey, batch: D): tf.Scalar;
}

/**
 * 4 inputs (all >= 0, like pixels) -> 6 ReLU units -> 3 classes. Units 4 and 5 have a
 * bias of -100, so they are dead on every input: their gradients are exact zeros.
 */
export const tinyMlp: SmallTask<TinyParams, TinyBatch> = {
  init(key) {
    const [k1, k2] = random.split(key);
    return tf.tidy(() => ({
      w1: tf.mul(random.normal(k1!, [4, 6]), 0.5) as tf.Tensor2D,
      b1: tf.tensor1d([0.1, 0.1, 0.1, 0.1, -100, -100]),
      w2: tf.mul(random.normal(k2!, [6, 3]), 0.5) as tf.Tensor2D,
      b2: tf.zeros([3]) as tf.Tensor1D,
    }));
  },
  loss(params, _key, batch) {
    return tf.tidy(() => {
      const h = tf.relu(tf.add(tf.matMul(batch.x, params.w1), params.b1));
      const logits = tf.add(tf.matMul(h, params.w2), params.b2);
      const lp = logSoftmax(logits);
      const picked = tf.sum(tf.mul(lp, tf.oneHot(tf.cast(batch.y, 'int32'), 3)), 1);
      return tf.neg(tf.mean(picked)) as tf.Scalar;
    });
  },
};

/** A fixed batch of 16 non-negative inputs with labels. */
export function tinyBatch(key: PRNGKey): TinyBatch {
  const [k1, k2] = random.split(key);
  return {
    x: random.uniform(k1!, [16, 4]) as tf.Tensor2D,
    y: random.randint(k2!, [16], 0, 3) as tf.Tensor1D,
  };
}

/** A quadratic `sum(s * (x - c)^2)` over a vector, a matrix and a scalar leaf. */
export const quadratic: SmallTask<{ a: tf.Tensor; m: tf.Tensor; s: tf.Tensor }, undefined> = {
  init(key) {
    const [k1, k2] = random.split(key);
    return { a: random.normal(k1!, [5]), m: random.normal(k2!, [3, 4]), s: tf.scalar(1.5) };
  },
  loss(params) {
    return tf.tidy(
      () =>
        tf.addN([
          tf.sum(tf.mul(tf.square(tf.sub(params.a, 0.5)), tf.tensor1d([1, 2, 3, 4, 5]))),
          tf.mul(tf.sum(tf.square(params.m)), 0.3),
          tf.square(tf.sub(params.s, 1)),
        ]) as tf.Scalar,
    );
  },
};

/** `theta` plus `scale` times standard normal noise: a generic point, off the exact zeros of an initialisation. */
export function jitter<T>(theta: T, key: PRNGKey, scale = 0.01): T {
  let k = key;
  return treeMap((x) => {
    let sub: PRNGKey;
    [k, sub] = random.split(k) as [PRNGKey, PRNGKey];
    return tf.tidy(() => tf.add(x, tf.mul(random.normal(sub, x.shape), scale)));
  }, theta) as T;
}

/** The loss after `steps` updates of `lopt.optFn(theta)` from `task.init(key)`, as the spec's metaLoss. */
export function unrolledLoss<T, P, D>(
  lopt: LearnedOptimizer<T>,
  task: SmallTask<P, D>,
  steps: number,
): (theta: T, key: PRNGKey, batch: D) => tf.Scalar {
  return (theta, key, batch) => {
    const opt: Optimizer = lopt.optFn(theta, true);
    let k1: PRNGKey;
    [k1, key] = random.split(key) as [PRNGKey, PRNGKey];
    let state = opt.init(task.init(k1), { numSteps: steps });
    for (let i = 0; i < steps; i++) {
      [k1, key] = random.split(key) as [PRNGKey, PRNGKey];
      const [l, g] = valueAndGrad(task.loss)(opt.getParams(state), k1, batch);
      state = opt.update(state, g, { loss: l });
    }
    [k1, key] = random.split(key) as [PRNGKey, PRNGKey];
    return task.loss(opt.getParams(state), k1, batch);
  };
}

/**
 * Checks a meta-gradient against central finite differences along directions in theta
 * space: the gradient direction and `numRandom` random unit directions. Finite
 * differences use Richardson extrapolation of two step sizes (fourth-order accurate),
 * and the error is measured relative to the gradient norm, so float32 rounding in the
 * loss (~1e-7 relative) does not dominate for directions with a tiny derivative.
 * Returns the worst relative error.
 */
export function metaGradError<T>(
  f: (theta: T) => tf.Scalar,
  theta: T,
  opts: { h?: number; numRandom?: number; key?: PRNGKey } = {},
): { maxRelErr: number; gradNorm: number; finite: boolean } {
  const h = opts.h ?? 1e-2;
  const numRandom = opts.numRandom ?? 3;
  const g = grad(f)(theta) as T;
  const gLeaves = treeMap((x) => x, g as object) as object;
  const flat = (t: unknown) => tf.tidy(() => tf.concat(treeLeavesOf(t).map((x) => tf.reshape(x, [-1]))));
  const gv = flat(gLeaves);
  const gArr = gv.dataSync() as Float32Array;
  const finite = gArr.every((x) => Number.isFinite(x));
  const gradNorm = Math.sqrt(gArr.reduce((a, x) => a + x * x, 0));
  const dirs: tf.Tensor1D[] = [tf.div(gv, gradNorm || 1) as tf.Tensor1D];
  let key = opts.key ?? random.PRNGKey(7);
  for (let i = 0; i < numRandom; i++) {
    let k: PRNGKey;
    [key, k] = random.split(key) as [PRNGKey, PRNGKey];
    dirs.push(
      tf.tidy(() => {
        const r = random.normal(k, [gv.size]);
        return tf.div(r, tf.norm(r)) as tf.Tensor1D;
      }),
    );
  }
  const thetaFlat = flat(theta);
  const { unravel } = ravelLike(theta);
  const at = (d: tf.Tensor1D, eps: number) => {
    const th = tidyTree(() => unravel(tf.add(thetaFlat, tf.mul(d, eps)) as tf.Tensor1D));
    const v = tf.tidy(() => f(th));
    const out = v.dataSync()[0]!;
    v.dispose();
    treeDispose(th);
    return out;
  };
  let maxRelErr = 0;
  for (const d of dirs) {
    const adT = tf.tidy(() => tf.sum(tf.mul(gv, d)));
    const ad = adT.dataSync()[0]!;
    adT.dispose();
    const dh = (at(d, h) - at(d, -h)) / (2 * h);
    const dh2 = (at(d, h / 2) - at(d, -h / 2)) / h;
    const fd = (4 * dh2 - dh) / 3;
    maxRelErr = Math.max(maxRelErr, Math.abs(fd - ad) / (gradNorm || 1));
  }
  tf.dispose([gv, thetaFlat, ...dirs]);
  treeDispose(g);
  return { maxRelErr, gradNorm, finite };
}

function treeLeavesOf(t: unknown): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  treeMap((x) => {
    out.push(x);
    return x;
  }, t);
  return out;
}

function ravelLike<T>(t: T): { unravel: (v: tf.Tensor1D) => T } {
  const shapes = treeLeavesOf(t).map((x) => x.shape);
  const sizes = shapes.map((s) => s.reduce((a, b) => a * b, 1));
  return {
    unravel: (v) => {
      const parts = tf.split(v, sizes);
      let i = 0;
      return treeMap(() => tf.reshape(parts[i]!, shapes[i++]!), t) as T;
    },
  };
}

/** Expects `a` to have `b`'s shape and every element within `tol` of it, relative to `1 + |b|`. */
export function expectClose(a: tf.Tensor, b: tf.Tensor, tol: number): void {
  expect(a.shape).toEqual(b.shape);
  const x = a.dataSync();
  const y = b.dataSync();
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!) / (1 + Math.abs(y[i]!)));
  expect(worst).toBeLessThan(tol);
}

/** Ones of `shape` but the first element NaN: multiplied into a gradient, it poisons one element. */
export function firstNaN(shape: number[]): tf.Tensor {
  const v = new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1);
  v[0] = Number.NaN;
  return tf.tensor(v, shape);
}
