import { setupBackend, treeDispose } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, test } from 'vitest';
import { stackOptStates, stackTrees, unstackTree } from './stacked-trees.js';

const start = tf.getBackend();
afterAll(async () => {
  await setupBackend(start);
});

describe.each(['cpu', 'wasm'])('stacking trees on the %s backend', (backend) => {
  test('stack and unstack round-trip, empty leaves included', async () => {
    await setupBackend(backend);
    const trees = [0, 1, 2].map((k) => ({ w: tf.fill([2, 3], k), empty: tf.zeros([0, 3]), n: tf.scalar(k, 'int32') }));
    const stacked = stackTrees(trees)!;
    expect(stacked.w.shape).toEqual([3, 2, 3]);
    expect(stacked.empty.shape).toEqual([3, 0, 3]);
    // The cpu backend keeps an empty stack as a plain array, which its slice cannot split.
    const back = unstackTree<(typeof trees)[0]>(stacked, 3);
    back.forEach((t, k) => {
      expect(Array.from(t.w.dataSync())).toEqual(Array(6).fill(k));
      expect(t.empty.shape).toEqual([0, 3]);
      expect(t.n.dataSync()[0]).toBe(k);
    });
    treeDispose(trees, stacked, back);
  });

  test('states stack into a [K] step count; mismatched trees do not stack', async () => {
    await setupBackend(backend);
    const states = [0, 1].map((k) => ({
      params: { w: tf.fill([2], k) },
      modelState: undefined,
      iteration: tf.scalar(k, 'int32'),
    }));
    const s = stackOptStates(states)!;
    expect(s.iteration.shape).toEqual([2]);
    expect(Array.from(s.iteration.dataSync())).toEqual([0, 1]);
    const other = { params: { w: tf.zeros([3]) }, modelState: undefined, iteration: tf.scalar(0, 'int32') };
    expect(stackOptStates([states[0]!, other])).toBeUndefined();
    expect(() => unstackTree(s, 3, 'test')).toThrow(
      /test: leaf 0 must be a tensor stacked on a leading axis of 3 problems, got shape \[2\]/,
    );
    treeDispose(states, s, other);
  });
});
