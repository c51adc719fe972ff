import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { type DemoStep, runDemo } from './training';

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('the live demo training (run in Node, as the page runs it)', () => {
  it('meta-trains LearnableAdam on the quadratic family: meta-loss falls, learned lr rises', async () => {
    const before = tf.memory().numTensors;
    const seen: DemoStep[] = [];
    const steps = await runDemo(
      { task: 'quadraticFamily', optimizer: 'learnableAdam', iterations: 60 },
      { onStep: (s) => seen.push(s) },
    );
    expect(steps).toHaveLength(60);
    expect(seen).toEqual(steps);
    const losses = steps.map((s) => s.loss);
    expect(mean(losses.slice(-10))).toBeLessThan(mean(losses.slice(0, 10)));
    expect(steps.at(-1)!.secondary!).toBeGreaterThan(1.5 * steps[0]!.secondary!);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('meta-trains LearnableAdam on real Fashion-MNIST (8x8 MLP) and stops when asked', async () => {
    const before = tf.memory().numTensors;
    let n = 0;
    const steps = await runDemo(
      { task: 'fashionMnist8', optimizer: 'learnableAdam', iterations: 100_000 },
      { onStep: () => n++, shouldStop: () => n >= 200, datasetOptions: { download: false } },
    );
    expect(steps).toHaveLength(200);
    const losses = steps.map((s) => s.loss);
    expect(mean(losses.slice(0, 20))).toBeGreaterThan(2.1); // about ln 10 at lr 1e-3
    expect(mean(losses.slice(-20))).toBeLessThan(mean(losses.slice(0, 20)) - 0.02);
    expect(steps.at(-1)!.secondary!).toBeGreaterThan(3 * steps[0]!.secondary!);
    expect(tf.memory().numTensors).toBe(before);
  });

  // Evaluation: mean training loss over 20 steps from a fixed start on fixed batches (it
  // starts near ln 10: untrained, these optimizers take tiny steps). A measured run:
  // MLPLOpt 2.3285 -> 2.3011 after 20 meta-iterations, AdafacMLPLOpt 2.3080 -> 2.2898 after 10.
  for (const [optimizer, iterations, drop] of [
    ['mlpLOptPes', 21, 0.015],
    ['adafacMlpLOptPes', 11, 0.01],
  ] as const) {
    it(`meta-trains ${optimizer} with PES on real Fashion-MNIST: the fixed-start evaluation loss falls`, async () => {
      const before = tf.memory().numTensors;
      const steps = await runDemo(
        { task: 'fashionMnist8', optimizer, iterations },
        { onStep: () => {}, datasetOptions: { download: false } },
      );
      expect(steps).toHaveLength(iterations);
      const evals = steps.filter((s) => s.secondary !== undefined);
      expect(evals.map((s) => s.iteration)).toEqual(
        Array.from({ length: (iterations - 1) / 10 + 1 }, (_, i) => 10 * i),
      );
      console.log(`${optimizer}: evaluation loss`, evals.map((s) => s.secondary!.toFixed(4)).join(' -> '));
      expect(evals[0]!.secondary!).toBeGreaterThan(2.2);
      expect(evals.at(-1)!.secondary!).toBeLessThan(evals[0]!.secondary! - drop);
      for (const s of steps) expect(Number.isFinite(s.loss)).toBe(true);
      expect(tf.memory().numTensors).toBe(before);
    }, 400_000);
  }

  it('trains the 8x8 MLP with plain SGD: the training loss falls', async () => {
    const steps = await runDemo(
      { task: 'fashionMnist8', optimizer: 'sgd', iterations: 150 },
      { onStep: () => {}, datasetOptions: { download: false } },
    );
    const losses = steps.map((s) => s.loss);
    expect(mean(losses.slice(-20))).toBeLessThan(mean(losses.slice(0, 5)) - 0.5);
  });
});
