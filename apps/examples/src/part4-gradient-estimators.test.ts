import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { runPart4 } from './part4-gradient-estimators.js';

it('runs Part 4: FullES, PES and TruncatedGrad give finite gradients and PES carries inner states on', async () => {
  const start = tf.memory().numTensors;
  const r = await runPart4({ log: () => {} });
  const keys = ['logEpsilon', 'logLr', 'oneMinusBeta1', 'oneMinusBeta2'];
  for (const g of [r.fullES, ...r.pes.grads, r.truncatedGrad]) {
    expect(Object.keys(g).sort()).toEqual(keys);
    expect(Object.values(g).every(Number.isFinite)).toBe(true);
  }
  // Backprop on a quadratic says: raise the learning rate.
  expect(r.truncatedGrad.logLr).toBeLessThan(0);
  // Each PES estimate advances every inner problem by its truncation length (10) or resets it.
  r.pes.innerStepAfter.forEach((s, k) => expect(s === r.pes.innerStepBefore[k]! + 10 || s < 10).toBe(true));
  expect(tf.memory().numTensors).toBe(start);
});
