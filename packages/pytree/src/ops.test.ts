import * as tf from '@tensorflow/tfjs-core';
import { expect, test } from 'vitest';
import { grad } from './autodiff.js';
import { logSoftmax, logSumExp, stopGradient } from './ops.js';

test('stopGradient passes values and blocks gradients', () => {
  const x = tf.tensor([1, 2]);
  const g = grad((y: tf.Tensor) => tf.sum(tf.mul(y, stopGradient(tf.square(y)))) as tf.Scalar)(x);
  // d/dy [y * c] with c = y^2 held constant is c.
  expect(Array.from(g.dataSync())).toEqual([1, 4]);
  tf.dispose([x, g]);
});

test('logSumExp and logSoftmax are stable for large logits', () => {
  const x = tf.tensor([
    [1000, 1000],
    [0, Math.log(3)],
  ]);
  const lse = logSumExp(x, -1);
  const ls = logSoftmax(x);
  expect(lse.dataSync()[0]).toBeCloseTo(1000 + Math.log(2), 3);
  expect(lse.dataSync()[1]).toBeCloseTo(Math.log(4), 5);
  const lv = ls.dataSync();
  expect(lv[0]).toBeCloseTo(-Math.log(2), 5);
  expect(lv[3]).toBeCloseTo(Math.log(3 / 4), 5);
  expect(logSumExp(x, 1, true).shape).toEqual([2, 1]);
  tf.dispose([x, lse, ls]);
});
