// Celo2 with its published theta, untuned, against Adam on real data: the comparisons of
// the Celo2 weights' README (measured there with PyLO's PyTorch Celo2_naive). These tests
// take a few minutes; they run on the wasm backend (the backend CI tests on) and are
// skipped on cpu, where the same arithmetic is covered by celo2.test.ts's fixtures.
import { chain, OptaxOptimizer, type Optimizer, type OptState, scaleByAdam, scaleByLearningRate } from '@lopt/optimizers';
import { random, tidy, treeDispose, valueAndGrad } from '@lopt/pytree';
import { conv, imageMlp, type Task } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { Celo2 } from './celo2.js';
import { celo2Theta } from './celo2-theta.js';

const DATA = { cacheRoot: process.env.LOPT_DATA_DIR!, download: false } as const;
const BATCH = 128;
type SplitArrays = ReturnType<NonNullable<Task['datasets']>['arrays']>;

/** PyTorch's (and optax's) Adam: epsilon 1e-8 outside the square root, none inside. */
function adam(lr: number): Optimizer {
  return new OptaxOptimizer(chain(scaleByAdam({ b1: 0.9, b2: 0.999, eps: 1e-8 }), scaleByLearningRate(lr)));
}

/** Batch `step` of epochs of shuffles drawn from `seed` (without replacement within an epoch). */
function batchAt(a: SplitArrays, seed: number, step: number): { image: tf.Tensor4D; label: tf.Tensor1D } {
  const perEpoch = Math.floor(a.count / BATCH);
  const order = random.permutationIndices(random.foldIn(random.PRNGKey(seed), Math.floor(step / perEpoch)), a.count);
  return rows(a, Array.from(order.subarray((step % perEpoch) * BATCH, (step % perEpoch + 1) * BATCH)));
}

function rows(a: SplitArrays, idx: number[]): { image: tf.Tensor4D; label: tf.Tensor1D } {
  const [h, w] = a.imageShape;
  const size = h * w;
  const images = new Float32Array(idx.length * size);
  const labels = new Int32Array(idx.length);
  idx.forEach((j, i) => {
    images.set(a.images.subarray(j * size, (j + 1) * size), i * size);
    labels[i] = a.labels[j]!;
  });
  return { image: tf.tensor4d(images, [idx.length, h, w, 1]), label: tf.tensor1d(labels, 'int32') };
}

/** Trains `task` from `task.init(PRNGKey(seed))` for `steps`; returns the mean loss on the first `testCount` test images. */
function trainThenTest(task: Task, opt: Optimizer, seed: number, steps: number, testCount: number): number {
  const ds = task.datasets!;
  const train = ds.arrays('train');
  const test = ds.arrays('test');
  const lossAndGrad = valueAndGrad((p: unknown, b: unknown) => task.loss(p, random.PRNGKey(0), b));
  let state: OptState = opt.init(task.init(random.PRNGKey(seed)));
  const start = tf.memory().numTensors;
  for (let t = 0; t < steps; t++) {
    const batch = batchAt(train, seed, t);
    const next = tidy(() => {
      const [l, g] = lossAndGrad(opt.getParams(state), batch);
      return opt.update(state, g, { loss: l as tf.Scalar });
    });
    treeDispose(state, batch);
    state = next;
  }
  expect(tf.memory().numTensors).toBe(start);
  let total = 0;
  for (let i = 0; i < testCount; i += 1000) {
    const idx = Array.from({ length: Math.min(1000, testCount - i) }, (_, k) => i + k);
    const b = rows(test, idx);
    total += tf.tidy(() => task.loss(opt.getParams(state), random.PRNGKey(0), b).dataSync()[0]!) * idx.length;
    treeDispose(b);
  }
  treeDispose(state);
  return total / testCount;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const fmt = (xs: number[]) => `${xs.map((x) => x.toFixed(3)).join(', ')} (mean ${mean(xs).toFixed(3)})`;

describe.skipIf(tf.getBackend() === 'cpu')('Celo2 (published theta, default learning rate) on real data', () => {
  it('784-128-128-128-10 ReLU MLP on 28x28 Fashion-MNIST, 600 steps, 3 seeds: within 5% of the best Adam', async () => {
    const task = await imageMlp.ImageMLP_FashionMnist_128x128x128_Relu(DATA);
    const theta = celo2Theta();
    const seeds = [0, 1, 2];
    const run = (opt: () => Optimizer) => seeds.map((s) => trainThenTest(task, opt(), s, 600, 10000));
    const celo2 = run(() => new Celo2().optFn(theta));
    const adams = [3e-4, 1e-3, 3e-3].map((lr) => ({ lr, losses: run(() => adam(lr)) }));
    const best = adams.reduce((a, b) => (mean(b.losses) < mean(a.losses) ? b : a));
    console.log(
      [
        'Fashion-MNIST MLP, test loss (10000 images) after 600 steps, seeds 0, 1, 2:',
        ...adams.map((a) => `  Adam ${a.lr}: ${fmt(a.losses)}`),
        `  Celo2 1e-3: ${fmt(celo2)}`,
        `  Celo2 / best Adam (${best.lr}): ${(mean(celo2) / mean(best.losses)).toFixed(3)}`,
      ].join('\n'),
    );
    expect(mean(celo2)).toBeLessThanOrEqual(1.05 * mean(best.losses));
    treeDispose(theta);
  }, 900_000);

  it('small conv net (3 stride-2 3x3 convs 16-32-32 + dense) on MNIST, 400 steps, 2 seeds: beats Adam 1e-3', async () => {
    const task = await conv.Conv_Mnist_16x32x32_Stride2(DATA);
    const theta = celo2Theta();
    const seeds = [0, 1];
    const run = (opt: () => Optimizer) => seeds.map((s) => trainThenTest(task, opt(), s, 400, 2000));
    const celo2 = run(() => new Celo2().optFn(theta));
    const adam3 = run(() => adam(1e-3));
    const adam2 = run(() => adam(1e-2));
    console.log(
      [
        'MNIST conv net, test loss (first 2000 images) after 400 steps, seeds 0, 1:',
        `  Adam 1e-3: ${fmt(adam3)}`,
        `  Adam 1e-2: ${fmt(adam2)}`,
        `  Celo2 1e-3: ${fmt(celo2)}`,
      ].join('\n'),
    );
    expect(mean(celo2)).toBeLessThan(mean(adam3));
    treeDispose(theta);
  }, 900_000);
});
