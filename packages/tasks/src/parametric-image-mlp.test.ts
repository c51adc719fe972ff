import { random, treeMap } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { ACTIVATIONS, type ActivationName } from './activations.js';
import { orthogonalInit, SAMPLED_INITIALIZERS, sampledInit } from './initializers.js';
import { ParametricImageMLP, type ParametricImageMLPCfg } from './parametric-image-mlp.js';
import { finiteDifferenceError, testDataOptions } from './test-helpers.js';

const key = random.PRNGKey(0);
let family: ParametricImageMLP;
beforeAll(async () => {
  family = await ParametricImageMLP.create(testDataOptions());
});

describe('ParametricImageMLP', () => {
  test('sample is deterministic per key, plain data, and covers the space', () => {
    const a = family.sample(random.PRNGKey(1));
    expect(family.sample(random.PRNGKey(1))).toEqual(a);
    expect(JSON.parse(JSON.stringify(a))).toEqual(a);
    const cfgs = Array.from({ length: 60 }, (_, i) => family.sample(random.PRNGKey(100 + i)));
    expect(new Set(cfgs.map((c) => JSON.stringify(c))).size).toBe(60);
    const depths = new Set(cfgs.map((c) => c.hiddenSizes.length));
    expect([...depths].sort()).toEqual([0, 1, 2, 3, 4]);
    expect(new Set(cfgs.map((c) => c.dataset))).toEqual(new Set(['fashion_mnist', 'mnist']));
    expect(new Set(cfgs.map((c) => c.activation)).size).toBeGreaterThan(6);
    expect(new Set(cfgs.map((c) => c.initializer.name)).size).toBe(5);
    for (const c of cfgs) {
      expect(c.hiddenSizes.every((h) => h >= 8 && h < 128 && h === c.hiddenSizes[0])).toBe(true);
      expect(c.initializer.scale).toBeGreaterThanOrEqual(0.5);
      expect(c.initializer.scale).toBeLessThan(2);
    }
  });

  test('taskFn builds the sampled MLP on the sampled dataset', () => {
    const cfg = family.sample(random.PRNGKey(7));
    const task = family.taskFn(cfg);
    expect(task.datasets).toBe(family.datasetsByName[cfg.dataset]);
    const p = task.init(key);
    const sizes = [...cfg.hiddenSizes, 10];
    const want: Record<string, unknown> = {};
    sizes.forEach((h, i) => {
      want[`mlp/~/linear_${i}`] = { w: [i === 0 ? 64 : sizes[i - 1]!, h], b: [h] };
    });
    expect(treeMap((x) => x.shape, p)).toEqual(want);
    expect(() => family.taskFn({ ...cfg, dataset: 'cifar10' })).toThrow(/unknown dataset 'cifar10'/);
    expect(() => family.taskFn({ ...cfg, activation: 'nope' as ActivationName })).toThrow(/Unknown activation 'nope'/);
  });

  test.each(Object.keys(ACTIVATIONS))(
    'activation %s: gradient matches finite differences on real data',
    (activation) => {
      const cfg: ParametricImageMLPCfg = {
        dataset: 'mnist',
        hiddenSizes: [16, 16],
        activation: activation as ActivationName,
        initializer: { name: 'variance_scaling_normal', scale: 1 },
      };
      const task = family.taskFn(cfg);
      const batch = task.datasets!.train.next().value;
      const params = task.init(key);
      expect(finiteDifferenceError((p) => task.loss(p, key, batch), params, 2, 1e-3)).toBeLessThan(1e-2);
      tf.dispose([params, batch]);
    },
  );

  test('normalizer: (clip(loss, 0, ln 20) - ln 2) * 10 / ln 10, NaN at the maximum', () => {
    const task = family.sampleTask(key);
    const f = (l: number) => ((Math.min(Math.max(l, 0), Math.log(20)) - Math.log(2)) * 10) / Math.log(10);
    const got = Array.from(task.normalizer(tf.tensor1d([-1, 1, 2.3, 50, Number.NaN])).dataSync());
    [f(-1), f(1), f(2.3), f(50), f(50)].forEach((v, i) => expect(got[i]!).toBeCloseTo(v, 5));
  });
});

describe('sampled initialisers', () => {
  test('orthogonal: orthonormal columns (fanIn > fanOut) or rows (fanIn < fanOut), times the scale', () => {
    for (const [shape, rows] of [
      [[12, 5], false],
      [[5, 12], true],
    ] as const) {
      const w = orthogonalInit(key, shape, 1.5);
      const gram = rows ? tf.matMul(w, w, false, true) : tf.matMul(w, w, true, false);
      const n = rows ? shape[0] : shape[1];
      const want = tf.mul(tf.eye(n), 2.25);
      expect(tf.max(tf.abs(tf.sub(gram, want))).dataSync()[0]!).toBeLessThan(1e-5);
    }
  });

  test('variance scaling and uniform: the stated spread, deterministic per key', () => {
    const shape = [400, 50];
    const std = (t: tf.Tensor) => Math.sqrt(tf.mean(tf.square(t)).dataSync()[0]!);
    const maxAbs = (t: tf.Tensor) => tf.max(tf.abs(t)).dataSync()[0]!;
    const s = 2 / 400;
    expect(std(sampledInit({ name: 'variance_scaling_normal', scale: 2 }, key, shape))).toBeCloseTo(Math.sqrt(s), 2);
    expect(std(sampledInit({ name: 'variance_scaling_truncated_normal', scale: 2 }, key, shape))).toBeCloseTo(
      Math.sqrt(s),
      2,
    );
    expect(maxAbs(sampledInit({ name: 'variance_scaling_uniform', scale: 2 }, key, shape))).toBeLessThanOrEqual(
      Math.sqrt(3 * s),
    );
    expect(maxAbs(sampledInit({ name: 'uniform_scale', scale: 2 }, key, shape))).toBeLessThanOrEqual(
      Math.sqrt(3 / 400) * 2,
    );
    for (const name of SAMPLED_INITIALIZERS) {
      const a = sampledInit({ name, scale: 1 }, key, [6, 4]).dataSync();
      const b = sampledInit({ name, scale: 1 }, key, [6, 4]).dataSync();
      expect(Array.from(a)).toEqual(Array.from(b));
    }
  });
});
