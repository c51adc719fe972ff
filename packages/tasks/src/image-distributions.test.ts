import { random, treeMap, valueAndGrad } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import { ImageConvDistribution, type ImageConvFamilyCfg, imageConvFlopsPerStep } from './image-conv-distribution.js';
import { ImageMLPDistribution, type ImageMLPFamilyCfg, imageMLPFlopsPerStep } from './image-mlp-distribution.js';
import type { Task } from './task.js';
import { testDataOptions } from './test-helpers.js';

// Configs of keys 0, 1, 2 with the default options: the same on wasm and cpu (checked on both).
const MLP_FIXTURES: ImageMLPFamilyCfg[] = [
  {
    family: 'ImageMLPFamily',
    dataset: 'fashion_mnist',
    imageSize: [28, 28],
    batchSize: 5,
    hiddenSizes: [13, 13, 13, 13],
  },
  { family: 'ImageMLPFamily', dataset: 'mnist', imageSize: [5, 5], batchSize: 186, hiddenSizes: [70] },
  { family: 'ImageMLPFamily', dataset: 'fashion_mnist', imageSize: [6, 6], batchSize: 7, hiddenSizes: [61] },
];
const CONV_FIXTURES: ImageConvFamilyCfg[] = [
  {
    family: 'ImageConvFamily',
    dataset: 'fashion_mnist',
    imageSize: [6, 6],
    batchSize: 247,
    hiddenSizes: [5],
    strides: [2],
  },
  { family: 'ImageConvFamily', dataset: 'mnist', imageSize: [5, 5], batchSize: 182, hiddenSizes: [], strides: [] },
  {
    family: 'ImageConvFamily',
    dataset: 'mnist',
    imageSize: [9, 9],
    batchSize: 14,
    hiddenSizes: [13, 13],
    strides: [1, 1],
  },
];

// SGD on a task's training batches; returns the mean test loss over 5 batches afterwards.
function sgd(task: Task, steps: number, lr: number): number {
  let p = task.init(random.PRNGKey(0));
  const vg = valueAndGrad(task.loss);
  for (let i = 0; i < steps; i++) {
    const next = tf.tidy(() => {
      const [, g] = vg(p, random.PRNGKey(i), task.datasets!.train.next().value);
      return treeMap((x: tf.Tensor, d: tf.Tensor) => tf.sub(x, tf.mul(lr, d)), p as never, g as never);
    });
    tf.dispose(p as never);
    p = next;
  }
  let total = 0;
  for (let i = 0; i < 5; i++)
    total += tf.tidy(() => task.loss(p, random.PRNGKey(0), task.datasets!.test.next().value).dataSync()[0]!);
  tf.dispose(p as never);
  return total / 5;
}

describe('ImageMLPDistribution', () => {
  const dist = new ImageMLPDistribution();

  test('the same key gives the same plain config (fixtures), within the reference ranges', () => {
    expect([0, 1, 2].map((s) => dist.sample(random.PRNGKey(s)))).toEqual(MLP_FIXTURES);
    const cfgs = Array.from({ length: 200 }, (_, i) => dist.sample(random.PRNGKey(1000 + i)));
    expect(JSON.parse(JSON.stringify(cfgs))).toEqual(cfgs);
    for (const c of cfgs) {
      expect(c.imageSize[0] >= 4 && c.imageSize[0] < 32 && c.imageSize[0] === c.imageSize[1]).toBe(true);
      expect(c.batchSize >= 4 && c.batchSize < 512).toBe(true);
      expect(c.hiddenSizes.every((h) => h >= 8 && h < 128 && h === c.hiddenSizes[0])).toBe(true);
    }
    expect(new Set(cfgs.map((c) => c.hiddenSizes.length))).toEqual(new Set([0, 1, 2, 3, 4]));
    expect(new Set(cfgs.map((c) => c.dataset))).toEqual(new Set(['fashion_mnist', 'mnist']));
    // Log-uniform batch sizes: about half below sqrt(4 * 512) = 45.
    const below = cfgs.filter((c) => c.batchSize < 45).length;
    expect(below > 70 && below < 130).toBe(true);
  });

  test('cost estimate by hand, and maxFlopsPerStep redraws over-budget configs', () => {
    // 5x5 mnist, 70 hidden, batch 186: 6 * 186 * (25 * 70 + 70 * 10) multiply-adds.
    expect(imageMLPFlopsPerStep(MLP_FIXTURES[1]!)).toBe(6 * 186 * (25 * 70 + 70 * 10));
    const cheap = new ImageMLPDistribution({ maxFlopsPerStep: 1e6 });
    const cfgs = Array.from({ length: 100 }, (_, i) => cheap.sample(random.PRNGKey(i)));
    expect(cfgs.every((c) => imageMLPFlopsPerStep(c) <= 1e6)).toBe(true);
    // A key whose first draw fits is unchanged.
    expect(cheap.sample(random.PRNGKey(2))).toEqual(MLP_FIXTURES[2]);
    expect(() => new ImageMLPDistribution({ maxFlopsPerStep: 1 }).sample(random.PRNGKey(0))).toThrow(
      /no config within maxFlopsPerStep 1/,
    );
  });

  test('options are checked: unknown keys, names and ranges are errors that name them', () => {
    expect(() => new ImageMLPDistribution({ imagesize: [4, 8] } as never)).toThrow(
      /unknown option 'imagesize' \(did you mean 'imageSize'\?\)/,
    );
    expect(() => new ImageMLPDistribution({ datasets: ['fashion-mnist'] } as never)).toThrow(
      /unknown name 'fashion-mnist' \(did you mean 'fashion_mnist'\?\)/,
    );
    expect(() => new ImageMLPDistribution({ batchSize: [64, 32] })).toThrow(/batchSize: expected \[min, max\]/);
    expect(() => new ImageMLPDistribution({ numLayers: [] })).toThrow(/numLayers: expected a non-empty list/);
  });

  test('familyFn loads the data at the sampled size; a relu task of it learns MNIST', async () => {
    const family = await dist.familyFn(MLP_FIXTURES[1]!, testDataOptions());
    expect(family.name).toBe('ImageMLPFamily_mnist_5x5_bs186_70');
    expect(family.datasets!.imageSize).toEqual([5, 5]);
    const batch = family.datasets!.train.next().value;
    expect(batch.image.shape).toEqual([186, 5, 5, 1]);
    tf.dispose(batch);
    const cfg = family.sample(random.PRNGKey(4));
    expect(family.sample(random.PRNGKey(4))).toEqual(cfg);
    const task = family.taskFn({ activation: 'relu', initializer: { name: 'variance_scaling_normal', scale: 1 } });
    const p = task.init(random.PRNGKey(0));
    expect(treeMap((x) => x.shape, p)).toEqual({
      'mlp/~/linear_0': { w: [25, 70], b: [70] },
      'mlp/~/linear_1': { w: [70, 10], b: [10] },
    });
    tf.dispose(p);
    // Chance level is ln 10 = 2.30; 5x5 digits are still easy.
    const start = tf.memory().numTensors;
    const loss = sgd(task, 300, 0.5);
    expect(tf.memory().numTensors).toBe(start);
    expect(loss).toBeLessThan(1.3);
    // Normaliser of the reference: (clip(l, 0, ln 20) - ln 2) * 10 / ln 10.
    const n = tf.tidy(() => task.normalizer(tf.tensor1d([Math.log(10), Number.NaN])).dataSync());
    expect(n[0]).toBeCloseTo(((Math.log(10) - Math.log(2)) * 10) / Math.log(10), 4);
    expect(n[1]).toBeCloseTo(((Math.log(20) - Math.log(2)) * 10) / Math.log(10), 4);
  });
});

describe('ImageConvDistribution', () => {
  const dist = new ImageConvDistribution();

  test('the same key gives the same plain config (fixtures), within the reference ranges', () => {
    expect([0, 1, 2].map((s) => dist.sample(random.PRNGKey(s)))).toEqual(CONV_FIXTURES);
    const cfgs = Array.from({ length: 200 }, (_, i) => dist.sample(random.PRNGKey(1000 + i)));
    for (const c of cfgs) {
      expect(c.hiddenSizes.every((h) => h >= 4 && h < 64)).toBe(true);
      expect(c.strides).toHaveLength(c.hiddenSizes.length);
      // Stride-2 layers lead.
      expect(c.strides.join('')).toMatch(/^2*1*$/);
    }
    expect(new Set(cfgs.map((c) => c.hiddenSizes.length))).toEqual(new Set([0, 1, 2, 3]));
    expect(new Set(cfgs.map((c) => c.strides.filter((s) => s === 2).length))).toEqual(new Set([0, 1, 2]));
  });

  test('cost estimate by hand', () => {
    // 6x6 -> stride 2 -> 3x3 with 5 channels: 9 * 9 * 1 * 5 per pixel; head 5 * 10.
    expect(imageConvFlopsPerStep(CONV_FIXTURES[0]!)).toBe(6 * 247 * (3 * 3 * 9 * 1 * 5 + 5 * 10));
  });

  test('familyFn builds conv nets with the sampled strides; a relu task of it learns MNIST', async () => {
    const cfg: ImageConvFamilyCfg = { ...CONV_FIXTURES[2]!, strides: [2, 1], batchSize: 32 };
    const family = await dist.familyFn(cfg, testDataOptions());
    expect(family.name).toBe('ImageConvFamily_mnist_9x9_bs32_13s2x13s1');
    const task = family.taskFn({ activation: 'relu', initializer: { name: 'variance_scaling_normal', scale: 2 } });
    const p = task.init(random.PRNGKey(0));
    expect(treeMap((x) => x.shape, p)).toEqual({
      conv2_d: { w: [3, 3, 1, 13], b: [13] },
      conv2_d_1: { w: [3, 3, 13, 13], b: [13] },
      linear: { w: [13, 10], b: [10] },
    });
    // Stride 2 on 9x9 (SAME) gives 5x5 maps.
    const feats = tf.tidy(() => {
      const b = family.datasets!.train.next().value;
      const w = (p as Record<string, { w: tf.Tensor4D }>).conv2_d!.w;
      return tf.conv2d(b.image, w, 2, 'same').shape;
    });
    expect(feats).toEqual([32, 5, 5, 13]);
    tf.dispose(p);
    // Chance level is ln 10 = 2.30; a pooled two-layer conv net on 9x9 digits learns slowly with SGD.
    const loss = sgd(task, 200, 1);
    expect(loss).toBeLessThan(2.0);
  }, 400_000);
});
