import * as tf from '@tensorflow/tfjs-core';
import { afterAll, expect, test } from 'vitest';
import { setupBackend } from './backend.js';

const initial = tf.getBackend();
afterAll(async () => {
  await setupBackend(initial);
});

test('without tfjs-node installed the default is wasm', async () => {
  expect(await setupBackend()).toBe('wasm');
  expect(tf.getBackend()).toBe('wasm');
});

test('cpu can be chosen by name', async () => {
  expect(await setupBackend('cpu')).toBe('cpu');
  expect(tf.getBackend()).toBe('cpu');
});

test('an unavailable or unknown backend is a clear error', async () => {
  await expect(setupBackend('tensorflow')).rejects.toThrow(
    /backend 'tensorflow' is unavailable: install @tensorflow\/tfjs-node or @tensorflow\/tfjs-node-gpu/,
  );
  await expect(setupBackend('tpu')).rejects.toThrow(/backend 'tpu' is unavailable: it is not registered; known backends/);
});
