import { random } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import { fanInWeight, truncatedNormalInit } from './init.js';

describe('weight initialisers', () => {
  test('truncatedNormalInit is truncatedNormal(-2, 2) times stddev, to the bit', () => {
    const key = random.PRNGKey(5);
    for (const [shape, stddev] of [
      [[64, 32], 1 / 8],
      [[32, 10], 1 / Math.sqrt(32)],
      [[3, 3, 4, 5], 0.3],
      [[0, 4], 2],
    ] as const) {
      const fast = truncatedNormalInit(key, shape, stddev);
      const ref = tf.tidy(() => tf.mul(random.truncatedNormal(key, -2, 2, shape), stddev));
      expect(fast.shape).toEqual(shape);
      expect(fast.dtype).toBe('float32');
      expect(Array.from(fast.dataSync())).toEqual(Array.from(ref.dataSync()));
      tf.dispose([fast, ref]);
    }
    const w = fanInWeight(key, [16, 4]);
    const ref = tf.tidy(() => tf.mul(random.truncatedNormal(key, -2, 2, [16, 4]), 0.25));
    expect(Array.from(w.dataSync())).toEqual(Array.from(ref.dataSync()));
    tf.dispose([w, ref]);
  });

  test('a bad shape is a clear error', () => {
    expect(() => truncatedNormalInit(random.PRNGKey(0), [2, -1], 1)).toThrow(/invalid shape \[2, -1\]/);
  });
});
