import * as tf from '@tensorflow/tfjs-core';
import { afterAll, expect, test } from 'vitest';
import { setupBackend } from './backend.js';

const initial = tf.getBackend();
afterAll(async () => {
  await setupBackend(initial);
});

test('without tfjs-node installed the default is wasm', async () => {
  const env = process.env.LOPT_BACKEND;
  delete process.env.LOPT_BACKEND;
  try {
    expect(await setupBackend()).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  } finally {
    if (env !== undefined) process.env.LOPT_BACKEND = env;
  }
});

test('LOPT_BACKEND names the default', async () => {
  const env = process.env.LOPT_BACKEND;
  process.env.LOPT_BACKEND = 'cpu';
  try {
    expect(await setupBackend()).toBe('cpu');
  } finally {
    if (env === undefined) delete process.env.LOPT_BACKEND;
    else process.env.LOPT_BACKEND = env;
  }
});

test('cpu can be chosen by name', async () => {
  expect(await setupBackend('cpu')).toBe('cpu');
  expect(tf.getBackend()).toBe('cpu');
});

test('an unavailable or unknown backend is a clear error', async () => {
  await expect(setupBackend('tensorflow')).rejects.toThrow(
    /backend 'tensorflow' is unavailable: install @tensorflow\/tfjs-node or @tensorflow\/tfjs-node-gpu/,
  );
  await expect(setupBackend('tpu')).rejects.toThrow(
    /backend 'tpu' is unavailable: it is not registered; known backends/,
  );
});
