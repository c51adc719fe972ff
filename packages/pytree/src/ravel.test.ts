import * as tf from '@tensorflow/tfjs-core';
import { expect, test } from 'vitest';
import { valueAndGrad } from './autodiff.js';
import { ravelPytree } from './ravel.js';
import { treeDispose } from './tree.js';

test('ravelPytree flattens in tree order and unravel inverts it', () => {
  const tree = {
    b: tf.tensor([
      [1, 2],
      [3, 4],
    ]),
    a: tf.tensor([5]),
  };
  const before = tf.memory().numTensors;
  const { flat, unravel, sizes } = ravelPytree(tree);
  expect(Array.from(flat.dataSync())).toEqual([5, 1, 2, 3, 4]);
  expect(sizes).toEqual([1, 4]);
  const back = unravel(flat);
  expect(back.b.shape).toEqual([2, 2]);
  expect(Array.from(back.b.dataSync())).toEqual([1, 2, 3, 4]);
  expect(() => unravel(tf.zeros([4]) as tf.Tensor1D)).toThrow(/length 5/);
  treeDispose(back, flat);
  expect(tf.memory().numTensors).toBe(before + 1); // the zeros made in the error case
  treeDispose(tree);
});

test('gradients flow through unravel', () => {
  const tree = { a: tf.tensor([1, 2]), b: tf.tensor([3]) };
  const { flat, unravel } = ravelPytree(tree);
  const f = (v: tf.Tensor1D) => {
    const t = unravel(v);
    return tf.add(tf.sum(tf.square(t.a)), tf.mul(3, tf.sum(t.b))) as tf.Scalar;
  };
  const [value, g] = valueAndGrad(f)(flat);
  expect(value.dataSync()[0]).toBeCloseTo(1 + 4 + 9, 5);
  expect(Array.from(g.dataSync())).toEqual([2, 4, 3]);
  treeDispose(tree, flat, value, g);
});
