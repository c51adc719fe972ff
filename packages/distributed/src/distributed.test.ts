import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DistributedLearner } from './distributed-learner.js';
import { DistributedWorker } from './distributed-worker.js';
import { type LocalRedisServer, startRedisServer } from './redis-server.js';
import { quadConfig, quadEstimators, quadLearner } from './test-run.js';
import { requireRedisServer } from './test-redis.js';

let redis: LocalRedisServer;
beforeAll(async () => {
  requireRedisServer();
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

describe('DistributedLearner and DistributedWorker in one process', () => {
  it('sync mode: every step applies N estimates of the current theta, and memory returns to its start', async () => {
    const before = tf.memory().numTensors;
    const lines: string[] = [];
    const learner = new DistributedLearner({
      connection: redis.url,
      run: 'sync-inproc',
      learner: quadLearner(6),
      seed: 0,
      numSteps: 6,
      config: quadConfig,
      estimatesPerStep: 2,
      onMetricsLine: (l) => lines.push(l),
    });
    const workers = [0, 1].map((i) => new DistributedWorker({ connection: redis.url, run: 'sync-inproc', gradientEstimators: quadEstimators(), seed: i }));
    const running = workers.map((w) => w.run());
    const out = await learner.run();
    const summaries = await Promise.all(running);
    await learner.close();
    expect(out.losses).toHaveLength(6);
    expect(out.totals.applied).toBe(12);
    expect(summaries.reduce((a, s) => a + s.estimates, 0)).toBeGreaterThanOrEqual(12);
    const records = lines.map((l) => JSON.parse(l));
    expect(records.map((r) => r.step)).toEqual([0, 1, 2, 3, 4, 5]);
    for (const r of records) {
      expect(r.metrics.maxStaleness).toBe(0);
      expect(Number.isFinite(r.loss)).toBe(true);
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
