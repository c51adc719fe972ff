import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, test } from 'vitest';
import { grad, valueAndGrad } from './autodiff.js';
import { isDifferentiated } from './differentiated.js';
import { defineOp, fastPathCounts, fastPathsActive, fastPathsEnabled, resetFastPathCounts } from './fast-op.js';
import { stopGradient } from './ops.js';
import { stackedOp } from './stacked-op.js';

const initial = fastPathsEnabled();
afterEach(() => {
  expect(fastPathsEnabled()).toBe(initial);
});

describe('isDifferentiated', () => {
  test('the tensors a gradient is taken with respect to, and those computed from them', () => {
    const x = tf.scalar(2);
    const d = tf.scalar(5);
    const seen: Record<string, boolean> = {};
    expect(isDifferentiated(x)).toBe(false);
    const before = tf.memory().numTensors;
    const g = grad((a: tf.Scalar) => {
      const derived = tf.mul(a, 3);
      const fromData = tf.mul(d, 3);
      seen.x = isDifferentiated(a);
      seen.derived = isDifferentiated(derived);
      seen.d = isDifferentiated(d);
      seen.fromData = isDifferentiated(fromData);
      return tf.mul(derived, fromData) as tf.Scalar;
    })(x);
    expect(seen).toEqual({ x: true, derived: true, d: false, fromData: false });
    g.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, d]);
  });

  test("nested gradients see every enclosing gradient's inputs; tfjs's own tf.grad too", () => {
    const x = tf.scalar(2);
    const y = tf.scalar(3);
    const z = tf.scalar(4);
    const inner: boolean[] = [];
    const out = tf.tidy(() =>
      grad((a: tf.Scalar) => {
        const gi = grad((b: tf.Scalar) => {
          // `a` is differentiated by the outer gradient while the inner one runs.
          inner.push(isDifferentiated(a), isDifferentiated(b), isDifferentiated(z));
          return tf.mul(tf.mul(a, b), b) as tf.Scalar;
        })(y);
        return gi as tf.Scalar;
      })(x),
    );
    expect(inner).toEqual([true, true, false]);
    // d/da (2 a y) = 2 y = 6
    expect(out.dataSync()[0]).toBeCloseTo(6, 5);
    out.dispose();
    const viaTf: boolean[] = [];
    const g = tf.grad((a: tf.Tensor) => {
      viaTf.push(isDifferentiated(a), isDifferentiated(y));
      return tf.mul(a, y);
    })(x);
    expect(viaTf).toEqual([true, false]);
    tf.dispose([g, x, y, z]);
    expect(isDifferentiated(x)).toBe(false);
  });
});

// A kernel that treats `d` as data: its gradient with respect to `d` is zero, as a fused
// kernel's is. Declaring `d` a constant makes the op run its reference when `d` is differentiated.
const scaledBy = (constants: boolean) =>
  defineOp<[tf.Tensor, tf.Tensor], tf.Tensor>({
    name: constants ? 'test.scaledBy' : 'test.scaledByUndeclared',
    reference: (w, d) => tf.sum(tf.mul(tf.square(w), d)),
    kernel: (w, d) => tf.sum(tf.mul(tf.square(w), stopGradient(d))),
    ...(constants ? { constants: (_w: tf.Tensor, d: tf.Tensor) => [d] } : {}),
  });

describe('defineOp: inputs the kernel treats as constants', () => {
  const op = scaledBy(true);
  const w = () => tf.tensor1d([1, 2, 3]);
  const d = () => tf.tensor1d([0.5, -1, 2]);

  test('differentiated with respect to a constant input, the reference runs and the gradient is true', () => {
    const [wt, dt, st] = [w(), d(), tf.scalar(2)];
    const before = tf.memory().numTensors;
    resetFastPathCounts();
    const gd = grad((x: tf.Tensor) => op(wt, x) as tf.Scalar)(dt);
    // d/dd sum(w^2 d) = w^2
    expect(Array.from(gd.dataSync())).toEqual([1, 4, 9]);
    expect(fastPathCounts()['test.scaledBy']).toEqual({ fast: 0, plain: 1 });
    // With respect to the weights alone, the kernel keeps running (where fast paths can).
    resetFastPathCounts();
    const gw = grad((x: tf.Tensor) => op(x, dt) as tf.Scalar)(wt);
    expect(Array.from(gw.dataSync())).toEqual([1, -4, 12]);
    expect(fastPathCounts()['test.scaledBy']).toEqual(
      fastPathsActive() ? { fast: 1, plain: 0 } : { fast: 0, plain: 1 },
    );
    // Data computed from a differentiated tensor (an augmentation's parameter, say).
    const gs = grad((s: tf.Scalar) => op(wt, tf.mul(dt, s)) as tf.Scalar)(st);
    // d/ds sum(w^2 d s) = sum(w^2 d) = 0.5 - 4 + 18
    expect(gs.dataSync()[0]).toBeCloseTo(14.5, 5);
    tf.dispose([gd, gw, gs]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([wt, dt, st]);
  });

  test.skipIf(!fastPathsActive())('undeclared, the kernel would give a zero gradient (what the rule prevents)', () => {
    const [wt, dt] = [w(), d()];
    const gd = grad((x: tf.Tensor) => scaledBy(false)(wt, x) as tf.Scalar)(dt);
    expect(Array.from(gd.dataSync())).toEqual([0, 0, 0]);
    tf.dispose([gd, wt, dt]);
  });

  test('a stacked op run per problem honours the rule of the op it derives from', () => {
    const stacked = stackedOp(op, {
      split: (ws: tf.Tensor, ds: tf.Tensor) => {
        const a = tf.unstack(ws);
        const b = tf.unstack(ds);
        return a.map((wk, k): [tf.Tensor, tf.Tensor] => [wk, b[k]!]);
      },
      stack: (rs) => tf.stack(rs),
    });
    const ws = tf.tensor2d([
      [1, 2],
      [3, 4],
    ]);
    const ds = tf.tensor2d([
      [1, -1],
      [2, 0.5],
    ]);
    const before = tf.memory().numTensors;
    resetFastPathCounts();
    const [v, gd] = tf.tidy(() => valueAndGrad((x: tf.Tensor) => tf.sum(stacked(ws, x)) as tf.Scalar)(ds));
    expect(v.dataSync()[0]).toBeCloseTo(1 - 4 + 18 + 8, 5);
    expect(Array.from(gd.dataSync())).toEqual([1, 4, 9, 16]);
    expect(fastPathCounts()['test.scaledBy.stacked']).toEqual({ fast: 0, plain: 1 });
    tf.dispose([v, gd]);
    resetFastPathCounts();
    const gw = tf.tidy(() => grad((x: tf.Tensor) => tf.sum(stacked(x, ds)) as tf.Scalar)(ws));
    expect(Array.from(gw.dataSync())).toEqual([2, -4, 12, 4]);
    expect(fastPathCounts()['test.scaledBy.stacked']).toEqual(
      fastPathsActive() ? { fast: 1, plain: 0 } : { fast: 0, plain: 1 },
    );
    gw.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([ws, ds]);
  });
});
