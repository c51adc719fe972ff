import { LearnableSGD } from '@lopt/learned';
import { encodeTree } from '@lopt/outer-trainers';
import { random, treeLeaves } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { type Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DistributedWorker } from './distributed-worker.js';
import type { EstimateRequest, EstimateResult, LearnerHead, ThetaRecord } from './protocol.js';
import { runKeys } from './protocol.js';
import { redisOptions } from './redis-connection.js';
import { type LocalRedisServer, startRedisServer } from './redis-server.js';
import { requireRedisServer } from './test-redis.js';
import { quadEstimators } from './test-run.js';

let redis: LocalRedisServer;
beforeAll(async () => {
  requireRedisServer();
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

/**
 * Sets up run `run` as an async learner at version 5 would leave it, with one request
 * queued at version 0, runs a worker until it answers, and returns its answer. The theta
 * record published beside the head belongs to `recordGeneration`.
 */
async function answerToQueuedRequest(run: string, recordGeneration: string): Promise<EstimateResult> {
  const keys = runKeys(run);
  const connection = redisOptions(redis.url);
  const client = new Redis(connection);
  const requests = new Queue(keys.requests, { connection, prefix: keys.prefix });
  const results = new Worker(keys.results, null, { connection, prefix: keys.prefix, autorun: false, drainDelay: 1 });
  const theta = new LearnableSGD().init(random.PRNGKey(0));
  const encoded = encodeTree(theta);
  tf.dispose(treeLeaves(theta as never) as tf.Tensor[]);
  const head: LearnerHead = { generation: 'g1', version: 5, done: false, mode: 'async', staleness: 1 };
  const record: ThetaRecord = { generation: recordGeneration, version: 5, theta: encoded };
  await client.multi().set(keys.head, JSON.stringify(head)).set(keys.theta, JSON.stringify(record)).exec();
  const req: EstimateRequest = {
    generation: 'g1',
    version: 0,
    slot: 0,
    attempt: 0,
    mode: 'async',
    staleness: 1,
    theta: encoded,
    key: [0, 1],
  };
  await requests.add('estimate', req, { jobId: 'g1-0-0-0' });
  const worker = new DistributedWorker({ connection: redis.url, run, gradientEstimators: quadEstimators(), seed: 0 });
  const running = worker.run();
  let job: Job | undefined;
  while (!job) job = (await results.getNextJob('test', { block: true })) as Job | undefined;
  await client.set(keys.head, JSON.stringify({ ...head, done: true }));
  await running;
  await Promise.all([requests.close(), results.close()]);
  client.disconnect();
  return job.data as EstimateResult;
}

describe('DistributedWorker', () => {
  it('async mode: a request that queued while the learner moved on is estimated from the current theta', async () => {
    // Estimated with the theta it carries (version 0), the answer would be 5 versions old,
    // beyond the bound of 1, and the request skipped.
    const before = tf.memory().numTensors;
    const msg = await answerToQueuedRequest('latest-theta', 'g1');
    expect(msg).toMatchObject({ kind: 'estimate', generation: 'g1', version: 5, slot: 0 });
    expect(Number.isFinite(msg.meanLoss)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("async mode: another learner incarnation's theta is never used; the request's own is, and is too old here", async () => {
    const msg = await answerToQueuedRequest('foreign-theta', 'g0');
    expect(msg).toMatchObject({ kind: 'skipped', generation: 'g1', version: 0 });
  });
});
