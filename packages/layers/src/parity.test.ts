import { Adam, type Optimizer, SGD, SGDM } from '@lopt/optimizers';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asTfOptimizer, tfjsAdam } from './index.js';
import { type FashionArrays, fashion, maxRelativeError, mlp, weightsOf } from './test-helpers.js';

// 50 steps of model.fit (batch 128, no shuffling) on real Fashion-MNIST with tf.train's
// optimizer and with the lopt optimizer configured to the same semantics, from the same
// initial weights; the weights are compared after every step.
const STEPS = 50;
const BATCH = 128;

let data: FashionArrays;
beforeAll(async () => {
  data = await fashion('train', STEPS * BATCH);
});
afterAll(() => tf.dispose([data.x, data.y]));

async function trajectory(model: tfl.LayersModel, optimizer: tf.Optimizer): Promise<Float32Array[][]> {
  model.compile({ optimizer, loss: 'categoricalCrossentropy' });
  const out: Float32Array[][] = [];
  await model.fit(data.x, data.y, {
    batchSize: BATCH,
    epochs: 1,
    shuffle: false,
    verbose: 0,
    callbacks: { onBatchEnd: async () => void out.push(weightsOf(model)) },
  });
  return out;
}

async function worstError(reference: tf.Optimizer, lopt: Optimizer): Promise<number> {
  const a = mlp();
  const b = mlp();
  b.setWeights(a.getWeights());
  const want = await trajectory(a, reference);
  const tfOpt = asTfOptimizer(lopt);
  const got = await trajectory(b, tfOpt);
  expect(got).toHaveLength(STEPS);
  expect(tfOpt.iterations).toBe(STEPS);
  const errors = got.map((w, i) => maxRelativeError(w, want[i]!));
  // The weights moved (a comparison of unchanged weights would prove nothing).
  expect(maxRelativeError(want[0]!, want[STEPS - 1]!)).toBeGreaterThan(1e-2);
  reference.dispose();
  tfOpt.dispose();
  a.dispose();
  b.dispose();
  return Math.max(...errors);
}

describe('parity with tf.train through tfjs-layers model.fit', () => {
  it('tfjsAdam (lopt Adam configured to tfjs semantics) follows tf.train.adam(1e-3)', async () => {
    const err = await worstError(tf.train.adam(1e-3), tfjsAdam(1e-3));
    console.log(`adam parity: max relative error ${err.toExponential(2)} over ${STEPS} steps`);
    expect(err).toBeLessThanOrEqual(1e-5);
  });

  it('tfjsAdam with other hyperparameters follows tf.train.adam(3e-3, 0.8, 0.99, 1e-6)', async () => {
    const err = await worstError(
      tf.train.adam(3e-3, 0.8, 0.99, 1e-6),
      tfjsAdam(3e-3, { b1: 0.8, b2: 0.99, eps: 1e-6 }),
    );
    console.log(`adam(3e-3, 0.8, 0.99, 1e-6) parity: max relative error ${err.toExponential(2)} over ${STEPS} steps`);
    expect(err).toBeLessThanOrEqual(1e-5);
  });

  it("plain Adam with tfjs's epsilon differs from tf.train.adam by tfjs's float32 bias correction", async () => {
    // The reason tfjsAdam exists: without it the biases (which start at 0, so every step
    // is a large part of them) are off by ~6.6e-6 relative from the first step on.
    const err = await worstError(tf.train.adam(1e-3), new Adam(1e-3, { eps: 1e-7, epsRoot: 0 }));
    console.log(`plain Adam vs tf.train.adam: max relative error ${err.toExponential(2)} over ${STEPS} steps`);
    expect(err).toBeGreaterThan(5e-6);
    expect(err).toBeLessThan(1e-3);
  });

  it('SGD follows tf.train.sgd(0.1)', async () => {
    const err = await worstError(tf.train.sgd(0.1), new SGD(0.1));
    console.log(`sgd parity: max relative error ${err.toExponential(2)} over ${STEPS} steps`);
    expect(err).toBeLessThanOrEqual(1e-5);
  });

  it('SGDM follows tf.train.momentum(0.05, 0.9)', async () => {
    const err = await worstError(tf.train.momentum(0.05, 0.9), new SGDM(0.05, 0.9));
    console.log(`momentum parity: max relative error ${err.toExponential(2)} over ${STEPS} steps`);
    expect(err).toBeLessThanOrEqual(1e-5);
  });

  it('Nesterov SGDM follows tf.train.momentum(0.05, 0.9, true)', async () => {
    const err = await worstError(tf.train.momentum(0.05, 0.9, true), new SGDM(0.05, 0.9, { nesterov: true }));
    console.log(`nesterov parity: max relative error ${err.toExponential(2)} over ${STEPS} steps`);
    expect(err).toBeLessThanOrEqual(1e-5);
  });
});
