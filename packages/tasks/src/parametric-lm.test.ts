import type { TextBatch } from '@lopt/datasets';
import { random, treeDispose, valueAndGrad } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { ParametricLMRNN, ParametricLMTransformer } from './parametric-lm.js';

describe.each([
  ['ParametricLMRNN', () => ParametricLMRNN.create({ cacheRoot: null, maxBatchSize: 8, maxSequenceLength: 16 })],
  [
    'ParametricLMTransformer',
    () => ParametricLMTransformer.create({ cacheRoot: null, maxBatchSize: 8, maxSequenceLength: 16 }),
  ],
] as const)('%s', (_name, create) => {
  it('samples sizes and sequence lengths deterministically and trains on its crop of the shared batches', async () => {
    const family = await create();
    const cfgs = [0, 1, 2, 3, 4, 5].map((s) => family.sample(random.PRNGKey(s)));
    expect(family.sample(random.PRNGKey(3))).toEqual(cfgs[3]);
    expect(new Set(cfgs.map((c) => JSON.stringify(c))).size).toBeGreaterThan(3);
    for (const c of cfgs) {
      expect(c.sequenceLength).toBeGreaterThanOrEqual(4);
      expect(c.sequenceLength).toBeLessThanOrEqual(16);
      expect(c.batchSize).toBeGreaterThanOrEqual(4);
      expect(c.batchSize).toBeLessThanOrEqual(8);
    }
    expect(new Set(cfgs.map((c) => c.sequenceLength)).size).toBeGreaterThan(1);
    const start = tf.memory().numTensors;
    for (const cfg of cfgs.slice(0, 3)) {
      const task = family.taskFn(cfg as never);
      expect(task.datasets).toBe(family.datasets);
      const p = task.init(random.PRNGKey(1));
      const batch = family.datasets!.train.next().value as unknown as TextBatch;
      const [l, g] = valueAndGrad(task.loss as (p: unknown, k: unknown, b: TextBatch) => tf.Scalar)(
        p,
        random.PRNGKey(0),
        batch,
      );
      const v = l.dataSync()[0]!;
      expect(v).toBeGreaterThan(Math.log(256) - 0.5);
      expect(v).toBeLessThan(Math.log(256) + 1.5);
      // The crop: the loss of the cropped batch equals the loss of the full batch.
      const cropped = {
        obs: tf.slice(batch.obs, [0, 0], [cfg.batchSize, cfg.sequenceLength]),
        target: tf.slice(batch.target, [0, 0], [cfg.batchSize, cfg.sequenceLength]),
      };
      const l2 = task.loss(p as never, random.PRNGKey(0), cropped);
      expect(l2.dataSync()[0]).toBeCloseTo(v, 5);
      treeDispose(p, batch, l, g, cropped, l2);
    }
    expect(tf.memory().numTensors).toBe(start);
  });
});
