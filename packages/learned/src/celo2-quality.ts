// Helpers of the Celo2 quality tests: training from a seed on fixed shuffles of the real
// data, and the test loss after it.
import {
  chain,
  OptaxOptimizer,
  type Optimizer,
  type OptState,
  scaleByAdam,
  scaleByLearningRate,
} from '@lopt/optimizers';
import { random, tidy, treeDispose, valueAndGrad } from '@lopt/pytree';
import type { Task } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';

export const DATA = { cacheRoot: process.env.LOPT_DATA_DIR!, download: false } as const;
const BATCH = 128;
type SplitArrays = ReturnType<NonNullable<Task['datasets']>['arrays']>;

/** PyTorch's (and optax's) Adam: epsilon 1e-8 outside the square root, none inside. */
export function adam(lr: number): Optimizer {
  return new OptaxOptimizer(chain(scaleByAdam({ b1: 0.9, b2: 0.999, eps: 1e-8 }), scaleByLearningRate(lr)));
}

/** Batch `step` of epochs of shuffles drawn from `seed` (without replacement within an epoch). */
const orders = new Map<string, Int32Array>();
function batchAt(a: SplitArrays, seed: number, step: number): { image: tf.Tensor4D; label: tf.Tensor1D } {
  const perEpoch = Math.floor(a.count / BATCH);
  const epoch = Math.floor(step / perEpoch);
  const key = `${a.count}/${seed}/${epoch}`;
  let order = orders.get(key);
  if (!order) {
    order = random.permutationIndices(random.foldIn(random.PRNGKey(seed), epoch), a.count);
    orders.set(key, order);
  }
  return rows(a, Array.from(order.subarray((step % perEpoch) * BATCH, ((step % perEpoch) + 1) * BATCH)));
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
export function trainThenTest(task: Task, opt: Optimizer, seed: number, steps: number, testCount: number): number {
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

export const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
export const fmt = (xs: number[]) => `${xs.map((x) => x.toFixed(3)).join(', ')} (mean ${mean(xs).toFixed(3)})`;
