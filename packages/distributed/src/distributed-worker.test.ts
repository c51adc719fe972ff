import { LearnableSGD } from '@lopt/learned';
import { encodeTree } from '@lopt/outer-trainers';
import { random, treeLeaves, treeMap } from '@lopt/pytree';
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
import { quadEstimators, WatchedEstimator } from './test-run.js';

let redis: LocalRedisServer;
beforeAll(async () => {
  requireRedisServer();
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

/** LearnableSGD's initial theta plus `shift`, encoded, and its leaves' values. */
function thetaOf(shift: number): { encoded: ReturnType<typeof encodeTree>; values: number[][] } {
  const init = new LearnableSGD().init(random.PRNGKey(0));
  const theta = treeMap((t: tf.Tensor) => tf.add(t, shift), init as never);
  tf.dispose(treeLeaves(init as never) as tf.Tensor[]);
  const leaves = treeLeaves(theta as never) as tf.Tensor[];
  const values = leaves.map((t) => Array.from(t.dataSync()));
  const encoded = encodeTree(theta);
  tf.dispose(leaves);
  return { encoded, values };
}

const requestTheta = thetaOf(0);
const currentTheta = thetaOf(0.5);

/**
 * Sets up run `run` as an async learner at version 5 would leave it, with one request
 * queued at version 0 (carrying `requestTheta`) and `currentTheta` published beside the
 * head as the theta of `recordGeneration`; runs a worker until it answers, and returns its
 * answer and what its estimator was given.
 */
async function answerToQueuedRequest(
  run: string,
  recordGeneration: string,
): Promise<{ msg: EstimateResult; seen: { theta: number[][]; version: number }[] }> {
  const keys = runKeys(run);
  const connection = redisOptions(redis.url);
  const client = new Redis(connection);
  const requests = new Queue(keys.requests, { connection, prefix: keys.prefix });
  const results = new Worker(keys.results, null, { connection, prefix: keys.prefix, autorun: false, drainDelay: 1 });
  const head: LearnerHead = { generation: 'g1', version: 5, done: false, mode: 'async', staleness: 1 };
  const record: ThetaRecord = { generation: recordGeneration, version: 5, theta: currentTheta.encoded };
  await client.multi().set(keys.head, JSON.stringify(head)).set(keys.theta, JSON.stringify(record)).exec();
  const req: EstimateRequest = {
    generation: 'g1',
    version: 0,
    slot: 0,
    attempt: 0,
    mode: 'async',
    staleness: 1,
    theta: requestTheta.encoded,
    key: [0, 1],
  };
  await requests.add('estimate', req, { jobId: 'g1-0-0-0' });
  // What the estimator is handed: theta's values and version, estimate by estimate.
  const seen: { theta: number[][]; version: number }[] = [];
  const estimator = new WatchedEstimator(quadEstimators()[0]!, (ww) =>
    seen.push({
      theta: treeLeaves(ww.theta as never).map((t) => Array.from((t as tf.Tensor).dataSync())),
      version: ww.outerState.outerIteration,
    }),
  );
  const worker = new DistributedWorker({ connection: redis.url, run, gradientEstimators: [estimator], seed: 0 });
  const running = worker.run();
  let job: Job | undefined;
  while (!job) job = (await results.getNextJob('test', { block: true })) as Job | undefined;
  await client.set(keys.head, JSON.stringify({ ...head, done: true }));
  await running;
  await Promise.all([requests.close(), results.close()]);
  client.disconnect();
  return { msg: job.data as EstimateResult, seen };
}

describe('DistributedWorker', () => {
  it('async mode: a request that queued while the learner moved on is estimated from the current theta', async () => {
    // Estimated with the theta it carries (version 0), the answer would be 5 versions old,
    // beyond the bound of 1, and the request skipped.
    const before = tf.memory().numTensors;
    const { msg, seen } = await answerToQueuedRequest('latest-theta', 'g1');
    expect(msg).toMatchObject({ kind: 'estimate', generation: 'g1', version: 5, slot: 0 });
    expect(Number.isFinite(msg.meanLoss)).toBe(true);
    // Computed from the published theta, at its version: not the request's theta.
    expect(seen).toEqual([{ theta: currentTheta.values, version: 5 }]);
    expect(currentTheta.values).not.toEqual(requestTheta.values);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("async mode: another learner incarnation's theta is never used; the request's own is, and is too old here", async () => {
    const { msg, seen } = await answerToQueuedRequest('foreign-theta', 'g0');
    expect(msg).toMatchObject({ kind: 'skipped', generation: 'g1', version: 0 });
    expect(seen).toEqual([]);
  });
});
