import { random } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { type LayersDemoEpoch, type LayersDemoStep, runLayersDemo } from './training';

// model.fit shuffles its batches with Math.random (as the page does in the browser): here each
// test draws it from a PRNG key, so the accuracies it checks are the same on every run.
const originalRandom = Math.random;
beforeEach(() => {
  let key = random.PRNGKey(0);
  let words: Uint32Array = new Uint32Array(0);
  let i = 0;
  Math.random = () => {
    if (i === words.length) {
      const [next, sub] = random.split(key);
      key = next!;
      words = random.bits(sub!, 4096);
      i = 0;
    }
    return words[i++]! / 2 ** 32;
  };
});
afterAll(() => {
  Math.random = originalRandom;
});

describe('the tfjs-layers page training (run in Node, as the page runs it)', () => {
  it('LearnableAdam trains the Sequential MLP with model.fit to 72% test accuracy in 3 epochs, leak-free', async () => {
    const before = tf.memory().numTensors;
    const steps: LayersDemoStep[] = [];
    const seen: LayersDemoEpoch[] = [];
    const epochs = await runLayersDemo(
      { optimizer: 'learnableAdam', epochs: 3 },
      { datasetOptions: { download: false }, onStep: (s) => steps.push(s), onEpoch: (e) => seen.push(e) },
    );
    expect(epochs).toHaveLength(3);
    expect(seen).toEqual(epochs);
    expect(steps).toHaveLength(3 * 64);
    console.log(
      'layers page, LearnableAdam:',
      epochs.map((e) => `epoch ${e.epoch}: loss ${e.loss.toFixed(3)}, test acc ${e.accuracy.toFixed(3)}`).join('; '),
    );
    expect(epochs[2]!.loss).toBeLessThan(epochs[0]!.loss);
    expect(epochs[2]!.accuracy).toBeGreaterThanOrEqual(0.72);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('Celo2 with its published theta trains the same model to 62% test accuracy in 3 epochs (67% measured), leak-free', async () => {
    const before = tf.memory().numTensors;
    const epochs = await runLayersDemo({ optimizer: 'celo2', epochs: 3 }, { datasetOptions: { download: false } });
    console.log(
      'layers page, Celo2:',
      epochs.map((e) => `epoch ${e.epoch}: loss ${e.loss.toFixed(3)}, test acc ${e.accuracy.toFixed(3)}`).join('; '),
    );
    expect(epochs[2]!.loss).toBeLessThan(epochs[0]!.loss);
    expect(epochs[2]!.accuracy).toBeGreaterThanOrEqual(0.62);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('stops when asked', async () => {
    let n = 0;
    const epochs = await runLayersDemo(
      { optimizer: 'nnAdam', epochs: 50, trainSize: 1024 },
      { datasetOptions: { download: false }, onStep: () => n++, shouldStop: () => n >= 20 },
    );
    expect(n).toBe(20);
    expect(epochs.length).toBeLessThanOrEqual(3);
  });
});
