import { LearnableAdam } from '@lopt/learned';
import { SGD } from '@lopt/optimizers';
import { decodeTree, type EncodedTree, encodeTree, GradientLearner } from '@lopt/outer-trainers';
import { tidy, treeLeaves, treeMap } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { type Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DistributedLearner } from './distributed-learner.js';
import { DistributedWorker } from './distributed-worker.js';
import { type EstimateRequest, type EstimateResult, runKeys, type ThetaRecord } from './protocol.js';
import { redisOptions } from './redis-connection.js';
import { type LocalRedisServer, startRedisServer } from './redis-server.js';
import { killAll } from './test-processes.js';
import { requireRedisServer } from './test-redis.js';
import { quadConfig, quadEstimators, quadLearner } from './test-run.js';

let redis: LocalRedisServer;
beforeAll(async () => {
  requireRedisServer();
  redis = await startRedisServer();
});
afterAll(async () => {
  killAll();
  await redis?.stop();
});

const values = (tree: unknown) => treeLeaves(tree as never).map((t) => Array.from((t as tf.Tensor).dataSync()));

/** A hand-driven worker: takes the learner's requests and posts chosen results. */
function handWorker(run: string) {
  const keys = runKeys(run);
  const connection = redisOptions(redis.url);
  const taker = new Worker(keys.requests, null, { connection, prefix: keys.prefix, autorun: false, drainDelay: 1 });
  const results = new Queue(keys.results, { connection, prefix: keys.prefix });
  return {
    async take(n: number): Promise<(EstimateRequest & { jobId: string })[]> {
      const out: (EstimateRequest & { jobId: string })[] = [];
      while (out.length < n) {
        const job = (await taker.getNextJob('hand', { block: true })) as Job | undefined;
        if (job) out.push({ ...(job.data as EstimateRequest), jobId: job.id! });
      }
      return out.sort((a, b) => a.slot - b.slot);
    },
    /** Posts a result for `req` whose gradient is `value` everywhere (and meta-loss `value`). */
    async post(
      req: EstimateRequest & { jobId: string },
      value: number,
      over: Partial<EstimateResult> = {},
    ): Promise<void> {
      const theta = decodeTree(req.theta);
      const grads = tidy(() => treeMap((t: tf.Tensor) => tf.fill(t.shape, value), theta as never));
      const enc: EncodedTree = encodeTree(grads);
      tf.dispose(treeLeaves(grads as never) as tf.Tensor[]);
      tf.dispose(treeLeaves(theta as never) as tf.Tensor[]);
      const msg: EstimateResult = {
        kind: 'estimate',
        generation: req.generation,
        version: req.version,
        slot: req.slot,
        attempt: req.attempt,
        jobId: req.jobId,
        workerId: 'hand',
        grads: enc,
        meanLoss: value,
        metrics: {},
        seconds: 0,
        ...over,
      };
      await results.add('estimate', msg, { removeOnComplete: true });
    },
    async close() {
      await Promise.all([taker.close(), results.close()]);
    },
  };
}

describe('DistributedLearner', () => {
  it('sync mode: duplicate, late and foreign results are ignored by version; the mean of the right ones is applied', async () => {
    const before = tf.memory().numTensors;
    const run = 'sync-dup';
    const learner = new DistributedLearner({
      connection: redis.url,
      run,
      // Plain SGD with learning rate 1: theta moves by exactly minus the mean gradient.
      learner: new GradientLearner(new LearnableAdam() as never, new SGD(1)),
      seed: 0,
      numSteps: 3,
      config: { test: run },
      estimatesPerStep: 2,
    });
    await learner.start();
    const hand = handWorker(run);
    const theta0 = values(learner.getMetaParams());
    const step0 = learner.outerStep();
    const [r0, r1] = await hand.take(2);
    expect([r0!.version, r0!.slot, r1!.version, r1!.slot]).toEqual([0, 0, 0, 1]);
    await hand.post(r0!, 1000, { generation: 'an-earlier-learner' });
    await hand.post(r0!, 1);
    await hand.post(r0!, 100); // a second result for slot 0
    await hand.post(r1!, 1000, { version: 7 }); // another theta than this step's
    await hand.post(r1!, 3);
    const out0 = await step0;
    expect(out0.loss).toBe(2);
    expect(out0.metrics.lateDropped).toBe(2);
    expect(out0.metrics.duplicatesDropped).toBe(1);
    const theta1 = values(learner.getMetaParams());
    theta1.forEach((leaf, i) => leaf.forEach((v, j) => expect(v).toBeCloseTo(theta0[i]![j]! - 2, 5)));
    // A result of step 0 arriving during step 1 is late.
    const step1 = learner.outerStep();
    const [s0, s1] = await hand.take(2);
    expect(s0!.version).toBe(1);
    await hand.post(r1!, 1000);
    await hand.post(s0!, 5);
    await hand.post(s1!, 5);
    const out1 = await step1;
    expect(out1.loss).toBe(5);
    expect(out1.metrics.lateDropped).toBe(1);
    const theta2 = values(learner.getMetaParams());
    theta2.forEach((leaf, i) => leaf.forEach((v, j) => expect(v).toBeCloseTo(theta1[i]![j]! - 5, 4)));
    expect(learner.totals).toMatchObject({ applied: 4, lateDropped: 3, duplicatesDropped: 1, staleDropped: 0 });
    await hand.close();
    await learner.close();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('async mode: estimates within the staleness bound are applied, older ones dropped and counted, duplicates ignored', async () => {
    const before = tf.memory().numTensors;
    const run = 'async-stale';
    const learner = new DistributedLearner({
      connection: redis.url,
      run,
      learner: new GradientLearner(new LearnableAdam() as never, new SGD(1)),
      seed: 0,
      numSteps: 5,
      config: { test: run },
      mode: 'async',
      estimatesPerStep: 1,
      staleness: 1,
      maxInFlight: 1,
    });
    await learner.start();
    const hand = handWorker(run);
    const step0 = learner.outerStep();
    const [a] = await hand.take(1);
    await hand.post(a!, 1);
    expect((await step0).metrics.maxStaleness).toBe(0);
    // The current theta beside the head, for workers to start from.
    const client = new Redis(redisOptions(redis.url));
    const record = JSON.parse((await client.get(runKeys(run).theta))!) as ThetaRecord;
    client.disconnect();
    expect(record).toMatchObject({ generation: learner.generation, version: 1 });
    const published = decodeTree(record.theta);
    expect(values(published)).toEqual(values(learner.getMetaParams()));
    tf.dispose(treeLeaves(published as never) as tf.Tensor[]);
    const step1 = learner.outerStep();
    const [b] = await hand.take(1);
    expect(b!.version).toBe(1);
    await hand.post(b!, 1000, { version: -1 }); // two versions old: beyond the bound
    const [c] = await hand.take(1); // its replacement
    expect(c!.slot).toBeGreaterThan(b!.slot);
    await hand.post(c!, 2, { version: 0 }); // one version old: within the bound
    const out1 = await step1;
    expect(out1.loss).toBe(2);
    expect(out1.metrics.staleDropped).toBe(1);
    expect(out1.metrics.maxStaleness).toBe(1);
    const step2 = learner.outerStep();
    const [d] = await hand.take(1);
    await hand.post(c!, 1000); // again
    await hand.post(d!, 3);
    const out2 = await step2;
    expect(out2.loss).toBe(3);
    expect(out2.metrics.duplicatesDropped).toBe(1);
    expect(learner.totals).toMatchObject({ applied: 3, staleDropped: 1, duplicatesDropped: 1 });
    await hand.close();
    await learner.close();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('an estimate shaped unlike theta stops the step with an error naming the worker', async () => {
    const before = tf.memory().numTensors;
    const run = 'wrong-shape';
    const learner = new DistributedLearner({
      connection: redis.url,
      run,
      learner: new GradientLearner(new LearnableAdam() as never, new SGD(1)),
      seed: 0,
      numSteps: 2,
      config: { test: run },
    });
    await learner.start();
    const hand = handWorker(run);
    const step = learner.outerStep();
    const [r] = await hand.take(1);
    const other = { w: tf.zeros([3, 2]) };
    await hand.post(r!, 0, { grads: encodeTree(other), workerId: 'odd-worker' });
    tf.dispose(other.w);
    await expect(step).rejects.toThrow(/estimate of worker odd-worker does not match.*another learned optimizer/);
    await hand.close();
    await learner.close();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('async mode with two workers: every applied estimate is within the staleness bound', async () => {
    const lines: string[] = [];
    const learner = new DistributedLearner({
      connection: redis.url,
      run: 'async-workers',
      learner: quadLearner(8),
      seed: 0,
      numSteps: 8,
      config: quadConfig,
      mode: 'async',
      estimatesPerStep: 2,
      staleness: 1,
      maxInFlight: 3,
      onMetricsLine: (l) => lines.push(l),
    });
    const workers = [0, 1].map(
      (i) =>
        new DistributedWorker({
          connection: redis.url,
          run: 'async-workers',
          gradientEstimators: quadEstimators(),
          seed: i,
        }),
    );
    const running = workers.map((w) => w.run());
    const out = await learner.run();
    await Promise.all(running);
    await learner.close();
    expect(out.losses).toHaveLength(8);
    const records = lines.map((l) => JSON.parse(l));
    for (const r of records) expect(r.metrics.maxStaleness).toBeLessThanOrEqual(1);
    expect(out.totals.applied).toBe(16);
  });

  it('sync mode with N workers in one process: N estimates per step, and memory returns to its start', async () => {
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
    const workers = [0, 1].map(
      (i) =>
        new DistributedWorker({
          connection: redis.url,
          run: 'sync-inproc',
          gradientEstimators: quadEstimators(),
          seed: i,
        }),
    );
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
