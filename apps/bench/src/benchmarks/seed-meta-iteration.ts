import * as tf from '@tensorflow/tfjs-core';
import type { Batch } from '@lopt/datasets';
import { random, treeDispose } from '@lopt/pytree';
import type { RatioCase } from '../harness.js';
import { plainTfjsSeed } from '../peers/plain-tfjs-seed.js';
import { toSeedBatch } from '../peers/seed-data.js';
import { loptSeed } from '../seed.js';

const seedVsPlainTfjs: RatioCase = {
  name: 'seed meta-iteration (LearnableAdam, FashionMnist8, 4-step unroll)',
  goal: '<= 0.25x plain tfjs',
  goalRatio: 0.25,
  peerName: 'plain tfjs',
  reps: 30,
  async setup() {
    const lopt = await loptSeed();
    const batch = lopt.task.datasets!.train.next().value as Batch;
    const seedBatch = toSeedBatch(batch);
    const init = lopt.task.init(random.PRNGKey(0));
    const leaves = [init['mlp/~/linear_0']!.w!, init['mlp/~/linear_0']!.b!, init['mlp/~/linear_1']!.w!, init['mlp/~/linear_1']!.b!] as [
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
    ];
    const peer = plainTfjsSeed(leaves);
    return {
      lopt: () => lopt.step(batch),
      peer: () => peer.step(seedBatch),
      dispose: () => {
        lopt.dispose();
        peer.dispose();
        treeDispose(batch, seedBatch, init);
      },
    };
  },
};

export default [seedVsPlainTfjs];
