import { LearnableAdam } from '@lopt/learned';
import { Adam, SGD } from '@lopt/optimizers';
import { random, treeDispose } from '@lopt/pytree';
import { QuadraticTask } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { trainTask } from './inner-train.js';
import { runPart1 } from './part1.js';

describe('trainTask', () => {
  it('SGD on a quadratic contracts the loss by (1 - 2 lr)^2 a step and frees every tensor', async () => {
    const task = new QuadraticTask();
    const before = tf.memory().numTensors;
    const logged: number[] = [];
    const curve = await trainTask(task, new SGD(0.1), {
      steps: 10,
      seed: 0,
      logEvery: 5,
      onLog: (i) => logged.push(i),
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(logged).toEqual([0, 5, 9]);
    // loss = sum(x^2) (QuadraticTask): x <- x - 0.1 * 2x = 0.8 x, so the loss shrinks by 0.64 a step.
    for (let i = 1; i < 10; i++) expect(curve.train[i]! / curve.train[i - 1]!).toBeCloseTo(0.64, 4);
  });

  it('runs Adam and a learned optimizer without leaking', async () => {
    const task = new QuadraticTask();
    const lopt = new LearnableAdam();
    const theta = lopt.init(random.PRNGKey(0));
    // The optimizers are built first: optFn may hold tensors of its own (its hyperparameters).
    const adam = new Adam(0.1);
    const learned = lopt.optFn(theta);
    const before = tf.memory().numTensors;
    const a = await trainTask(task, adam, { steps: 20, seed: 1, logEvery: 10 });
    const b = await trainTask(task, learned, { steps: 20, seed: 1, logEvery: 10 });
    expect(tf.memory().numTensors).toBe(before);
    expect(a.train[19]!).toBeLessThan(a.train[0]!);
    // Same seed, same initial parameters.
    expect(b.train[0]).toBeCloseTo(a.train[0]!, 5);
    treeDispose(theta);
  });
});

describe('trainTask ends early', () => {
  it('at the first non-finite loss, naming its step, with the test loss of that step logged; and on a stop request', async () => {
    const task = new QuadraticTask();
    const before = tf.memory().numTensors;
    const logged: number[] = [];
    // SGD(1e10) on sum(x^2): x grows by (1 - 2e10) a step, past float32's range at step 2.
    const curve = await trainTask(task, new SGD(1e10), {
      steps: 100,
      seed: 0,
      logEvery: 50,
      onLog: (i) => logged.push(i),
    });
    expect(curve.ended).toEqual({ reason: 'diverged', step: 2, loss: Number.POSITIVE_INFINITY });
    expect(curve.steps).toBe(3);
    expect(logged).toEqual([0, 2]);
    let calls = 0;
    const stopped = await trainTask(task, new SGD(0.1), {
      steps: 100,
      seed: 0,
      logEvery: 50,
      shouldStop: () => ++calls === 7,
    });
    expect(stopped.ended).toEqual({ reason: 'stopped' });
    expect(stopped.train).toHaveLength(7);
    expect(stopped.test.map(([i]) => i)).toEqual([0, 6]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('runPart1', () => {
  it('meta-training raises the learning rate from 1e-3 on a quadratic, leaking nothing', async () => {
    const task = new QuadraticTask();
    const before = tf.memory().numTensors;
    const phases: string[] = [];
    const r = await runPart1({
      task,
      seed: 0,
      sgdSteps: 3,
      metaIterations: 10,
      unroll: 4,
      outerLr: 0.01,
      log: () => {},
      progress: (phase, done, total) => {
        if (done === total) phases.push(phase);
      },
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(phases).toEqual(['sgd', 'meta']);
    expect(r.initialLogLrGrad).toBeLessThan(0);
    expect(r.metaLosses).toHaveLength(10);
    // Adam's first steps move logLr by about the outer learning rate each.
    expect(Math.log(r.learningRates[9]! / 1e-3)).toBeGreaterThan(0.08);
    expect(r.metaLosses[9]!).toBeLessThan(r.metaLosses[0]!);
  });
});
