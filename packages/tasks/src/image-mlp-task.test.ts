import type { Batch } from '@lopt/datasets';
import { type PRNGKey, random, treeMap, valueAndGrad } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { batchedLoss, stackParams } from './batched.js';
import * as imageMlp from './image-mlp.js';
import type { ImageMLPTask } from './image-mlp-task.js';
import { softmaxCrossEntropy } from './losses.js';
import type { MLPParams } from './mlp.js';
import { finiteDifferenceError, testDataOptions } from './test-helpers.js';

const key = random.PRNGKey(0);
const shapes = (p: MLPParams) => treeMap((x) => x.shape, p);

const EXPECTED: Record<string, Record<string, Record<string, number[]>>> = {
  ImageMLP_FashionMnist8_Relu32: {
    'mlp/~/linear_0': { w: [64, 32], b: [32] },
    'mlp/~/linear_1': { w: [32, 10], b: [10] },
  },
  ImageMLP_FashionMnist16_Relu32: {
    'mlp/~/linear_0': { w: [256, 32], b: [32] },
    'mlp/~/linear_1': { w: [32, 10], b: [10] },
  },
  ImageMLP_FashionMnist32_Relu32: {
    'mlp/~/linear_0': { w: [1024, 32], b: [32] },
    'mlp/~/linear_1': { w: [32, 10], b: [10] },
  },
  ImageMLP_FashionMnist_Relu128x128: {
    'mlp/~/linear_0': { w: [784, 128], b: [128] },
    'mlp/~/linear_1': { w: [128, 128], b: [128] },
    'mlp/~/linear_2': { w: [128, 10], b: [10] },
  },
  ImageMLP_FashionMnist_128x128x128_Relu: {
    'mlp/~/linear_0': { w: [784, 128], b: [128] },
    'mlp/~/linear_1': { w: [128, 128], b: [128] },
    'mlp/~/linear_2': { w: [128, 128], b: [128] },
    'mlp/~/linear_3': { w: [128, 10], b: [10] },
  },
  ImageMLP_Mnist_128x128x128_Relu: {
    'mlp/~/linear_0': { w: [784, 128], b: [128] },
    'mlp/~/linear_1': { w: [128, 128], b: [128] },
    'mlp/~/linear_2': { w: [128, 128], b: [128] },
    'mlp/~/linear_3': { w: [128, 10], b: [10] },
  },
  ImageMLP_FashionMnist8_Tanh32: {
    'mlp/~/linear_0': { w: [64, 32], b: [32] },
    'mlp/~/linear_1': { w: [32, 10], b: [10] },
  },
  ImageMLP_FashionMnist8_Relu32_MSE: {
    'mlp/~/linear_0': { w: [64, 32], b: [32] },
    'mlp/~/linear_1': { w: [32, 10], b: [10] },
  },
  ImageMLP_FashionMnist8_LayerNorm_Relu32: {
    linear: { w: [64, 32], b: [32] },
    layer_norm: { scale: [32], offset: [32] },
    linear_1: { w: [32, 10], b: [10] },
  },
  ImageMLP_FashionMnist8_LayerNorm_Tanh32: {
    linear: { w: [64, 32], b: [32] },
    layer_norm: { scale: [32], offset: [32] },
    linear_1: { w: [32, 10], b: [10] },
  },
};

const tasks: Record<string, ImageMLPTask> = {};
const batches: Record<string, Batch> = {};
beforeAll(async () => {
  for (const name of Object.keys(EXPECTED)) {
    const factory = (imageMlp as unknown as Record<string, imageMlp.ImageTaskFactory<ImageMLPTask>>)[name]!;
    tasks[name] = await factory(testDataOptions());
    batches[name] = tasks[name].datasets!.train.next().value;
  }
});

describe('image MLP tasks', () => {
  test.each(Object.keys(EXPECTED))('%s: parameter names and shapes as the reference', (name) => {
    const p = tasks[name]!.init(key);
    expect(shapes(p)).toEqual(EXPECTED[name]);
    expect(tasks[name]!.name).toBe(name);
    tf.dispose(p);
  });

  test.each(Object.keys(EXPECTED))('%s: gradient matches central finite differences on real data', (name) => {
    const task = tasks[name]!;
    const params = task.init(random.PRNGKey(3));
    const err = finiteDifferenceError((p) => task.loss(p, key, batches[name]!), params, 2, 1e-3);
    expect(err).toBeLessThan(1e-2);
    tf.dispose(params);
  });

  test('the loss equals a float64 reference computed by hand', () => {
    const task = tasks.ImageMLP_FashionMnist8_Relu32!;
    const params = task.init(random.PRNGKey(7));
    const batch = batches.ImageMLP_FashionMnist8_Relu32!;
    const x = batch.image.arraySync() as number[][][][];
    const y = batch.label.arraySync() as number[];
    const w0 = params['mlp/~/linear_0']!.w!.arraySync() as number[][];
    const w1 = params['mlp/~/linear_1']!.w!.arraySync() as number[][];
    // Nonzero biases so that the bias path is checked too.
    const b0 = Array.from({ length: 32 }, (_, j) => 0.01 * (j - 16));
    const b1 = Array.from({ length: 10 }, (_, j) => 0.05 * j);
    params['mlp/~/linear_0']!.b = tf.tensor1d(b0);
    params['mlp/~/linear_1']!.b = tf.tensor1d(b1);
    let total = 0;
    x.forEach((img, n) => {
      const flat = img.flat(2);
      const h = b0.map((b, j) =>
        Math.max(
          0,
          flat.reduce((s, v, i) => s + v * w0[i]![j]!, b),
        ),
      );
      const logits = b1.map((b, c) => h.reduce((s, v, j) => s + v * w1[j]![c]!, b));
      const m = Math.max(...logits);
      const lse = m + Math.log(logits.reduce((s, l) => s + Math.exp(l - m), 0));
      total += lse - logits[y[n]!]!;
    });
    const got = task.loss(params, key, batch).dataSync()[0]!;
    expect(got).toBeCloseTo(total / x.length, 5);
    // The generic per-example form agrees.
    const viaGeneric = tf.mean(
      softmaxCrossEntropy({
        logits: task.logits(params, batch.image),
        labels: tf.cast(tf.oneHot(batch.label, 10), 'float32'),
      }),
    );
    expect(viaGeneric.dataSync()[0]!).toBeCloseTo(total / x.length, 5);
    tf.dispose(params);
  });

  test('normalizers: clip to [0, 1.5 ln 10] with NaN at the maximum; MSE: min(loss, 1) * 10', () => {
    const max = 1.5 * Math.log(10);
    const ce = tasks.ImageMLP_FashionMnist8_Relu32!.normalizer(tf.tensor1d([-1, 1, 10, Number.NaN, Infinity]));
    Array.from(ce.dataSync()).forEach((v, i) => expect(v).toBeCloseTo([0, 1, max, max, max][i]!, 5));
    const mse = tasks.ImageMLP_FashionMnist8_Relu32_MSE!.normalizer(tf.tensor1d([0.05, 3, Number.NaN, -Infinity]));
    Array.from(mse.dataSync()).forEach((v, i) => expect(v).toBeCloseTo([0.5, 10, 10, 10][i]!, 5));
  });

  test.each([
    'ImageMLP_FashionMnist8_Relu32',
    'ImageMLP_FashionMnist8_LayerNorm_Tanh32',
    'ImageMLP_FashionMnist8_Relu32_MSE',
  ])('%s: batched loss equals the loop of single losses (shared and per-member data)', (name) => {
    const task = tasks[name]!;
    const ks: PRNGKey[] = random.split(random.PRNGKey(9), 3);
    const members = ks.map((k) => task.init(k));
    const stacked = stackParams(members);
    const batch = batches[name]!;
    const shared = Array.from(batchedLoss(task, stacked, ks, batch).dataSync());
    members.forEach((p, i) => expect(shared[i]!).toBeCloseTo(task.loss(p, ks[i]!, batch).dataSync()[0]!, 5));
    // One batch per member: [K, B, H, W, C] images and [K, B] labels.
    const per = [batch, task.datasets!.train.next().value, task.datasets!.train.next().value];
    const perBatch = {
      image: tf.stack(per.map((b) => b.image)),
      label: tf.stack(per.map((b) => b.label)),
    } as unknown as Batch;
    const perMember = Array.from(batchedLoss(task, stacked, ks, perBatch).dataSync());
    members.forEach((p, i) => expect(perMember[i]!).toBeCloseTo(task.loss(p, ks[i]!, per[i]!).dataSync()[0]!, 5));
    // Gradients: d sum(batched) / d stacked = the stacked single gradients.
    const [, gb] = valueAndGrad((s: MLPParams) => tf.sum(batchedLoss(task, s, ks, batch)) as tf.Scalar)(stacked);
    const [, g1] = valueAndGrad(task.loss)(members[1]!, ks[1]!, batch);
    const first = Object.keys(g1).find((k) => 'w' in g1[k]!)!;
    const w1 = Array.from(g1[first]!.w!.dataSync());
    const wb = Array.from(tf.slice(gb[first]!.w!, [1, 0, 0], [1, -1, -1]).dataSync());
    wb.forEach((v, i) => expect(v).toBeCloseTo(w1[i]!, 5));
    tf.dispose([members, stacked]);
  });

  test('the hot-path loss leaves no tensors behind and stays lean', () => {
    const task = tasks.ImageMLP_FashionMnist8_Relu32!;
    const params = task.init(key);
    const batch = batches.ImageMLP_FashionMnist8_Relu32!;
    const before = tf.memory().numTensors;
    const gradFn = valueAndGrad(task.loss);
    const out = tf.tidy(() => gradFn(params, key, batch)[0]);
    out.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(params);
  });
});

describe('image MLP bad input', () => {
  test('a batch of another image size names both shapes', () => {
    const task = tasks.ImageMLP_FashionMnist8_Relu32!;
    const params = task.init(key);
    expect(() => task.loss(params, key, batches.ImageMLP_FashionMnist16_Relu32!)).toThrow(
      /data\.image has shape \[128, 16, 16, 1\] but this task expects \[B, 8, 8, 1\]/,
    );
    const b = batches.ImageMLP_FashionMnist8_Relu32!;
    expect(() => task.loss(params, key, { image: b.image, label: tf.cast(b.label, 'float32') } as Batch)).toThrow(
      /label must be int32/,
    );
    expect(() => task.loss(params, key, { image: b.image, label: tf.slice(b.label, 0, 5) } as Batch)).toThrow(
      /data\.label has shape \[5\]/,
    );
    expect(() => task.loss(params, key, { image: b.image } as Batch)).toThrow(
      /data should be a batch \{ image, label \}/,
    );
  });

  test('parameters of another task name the path and the shapes', () => {
    const task = tasks.ImageMLP_FashionMnist8_Relu32!;
    const other = tasks.ImageMLP_FashionMnist16_Relu32!.init(key);
    expect(() => task.loss(other, key, batches.ImageMLP_FashionMnist8_Relu32!)).toThrow(
      /params\['mlp\/~\/linear_0'\]\.w has shape \[256, 32\] but this task expects \[64, 32\]/,
    );
    const deeper = tasks.ImageMLP_FashionMnist_Relu128x128!.init(key);
    expect(() => task.loss(deeper, key, batches.ImageMLP_FashionMnist8_Relu32!)).toThrow(
      /unexpected \[mlp\/~\/linear_2\]/,
    );
    const ln = tasks.ImageMLP_FashionMnist8_LayerNorm_Relu32!.init(key);
    expect(() => task.loss(ln, key, batches.ImageMLP_FashionMnist8_Relu32!)).toThrow(
      /missing \[mlp\/~\/linear_0, mlp\/~\/linear_1\]/,
    );
  });
});
