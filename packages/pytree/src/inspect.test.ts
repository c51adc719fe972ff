import { inspect } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { expect, test } from 'vitest';
import './inspect.js';

test('console.log of a pytree shows tensor values', () => {
  const tree = { a: tf.tensor([1.5, -2]), f: tf.scalar(1.1), n: tf.scalar(0, 'int32'), big: tf.zeros([4, 5]) };
  const s = inspect(tree);
  expect(s).toContain('a: Tensor([1.5, -2], shape=[2], float32)');
  expect(s).toContain('n: Tensor(0, int32)');
  expect(s).toContain('f: Tensor(1.1, float32)');
  expect(s).toContain('... 10 more], shape=[4, 5], float32)');
  tf.dispose(tree);
  expect(inspect(tree.a)).toBe('Tensor(disposed, shape=[2], float32)');
});
