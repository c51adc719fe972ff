import * as tf from '@tensorflow/tfjs-core';
import { test } from 'vitest';
import { valueAndGrad } from '@lopt/pytree';
test('bmm', () => {
  console.log(tf.getBackend());
  const x = tf.randomNormal([1, 5, 3]);
  const w = tf.randomNormal([4, 3, 2]);
  const y = tf.matMul(x, w);
  console.log(y.shape);
  const x2 = tf.randomNormal([5, 3]);
  try { console.log(tf.matMul(x2, w).shape); } catch (e) { console.log('rank mismatch', String(e)); }
  const [v, g] = valueAndGrad((w: tf.Tensor) => tf.sum(tf.matMul(x, w)) as tf.Scalar)(w);
  console.log(v.dataSync(), g.shape);
  const c = tf.conv2d(tf.randomNormal([2, 8, 8, 1]) as tf.Tensor4D, tf.randomNormal([3, 3, 1, 4]) as tf.Tensor4D, 2, 'same');
  console.log(c.shape);
});
