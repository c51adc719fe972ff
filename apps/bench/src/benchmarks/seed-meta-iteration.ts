import * as tf from '@tensorflow/tfjs-core';
import type { BlockRunner, RatioCase } from '../harness.js';
import { jaxjsSeed } from '../peers/jaxjs-seed.js';
import { plainTfjsSeed } from '../peers/plain-tfjs-seed.js';
import { toSeedBatch } from '../peers/seed-data.js';
import { checkSameMetaLoss, seedFixture } from '../peers/seed-fixture.js';
import { startTorchSeed, torchUnavailable } from '../peers/torch-process.js';

const seedVsPlainTfjs: RatioCase = {
  name: 'seed meta-iteration (LearnableAdam, FashionMnist8, 4-step unroll)',
  goal: '<= 0.25x plain tfjs',
  goalRatio: 0.25,
  peerName: 'plain tfjs',
  async setup() {
    const fx = await seedFixture();
    const a = fx.arrays;
    const leaves = [tf.tensor2d(a.w0, [64, 32]), tf.tensor1d(a.b0), tf.tensor2d(a.w1, [32, 10]), tf.tensor1d(a.b1)] as [
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
    ];
    const seedBatch = toSeedBatch(fx.batch);
    const peer = plainTfjsSeed(leaves);
    checkSameMetaLoss('plain tfjs', fx.loptFirstLoss, peer.step(seedBatch));
    return {
      lopt: () => fx.lopt.step(fx.batch),
      peer: () => peer.step(seedBatch),
      dispose: () => {
        peer.dispose();
        fx.dispose();
        tf.dispose([...leaves, seedBatch.labels]);
      },
    };
  },
};

/**
 * A started peer: one meta-iteration per `step()` (timed by the harness) or blocks timed
 * by the peer itself (`block`, an external process), and its first meta-loss.
 */
interface SeedPeer {
  step?(): unknown;
  block?: BlockRunner['block'];
  firstLoss: number;
  dispose(): void;
}

/**
 * A case timing lopt's seed meta-iteration against a peer started on the shared fixture;
 * setup checks the peer's first meta-loss against lopt's before anything is timed.
 */
function seedPeerCase(
  c: Omit<RatioCase, 'setup'>,
  label: string,
  start: (fx: Awaited<ReturnType<typeof seedFixture>>) => Promise<SeedPeer>,
): RatioCase {
  return {
    ...c,
    async setup() {
      const fx = await seedFixture();
      let peer: SeedPeer | undefined;
      try {
        peer = await start(fx);
        checkSameMetaLoss(label, fx.loptFirstLoss, peer.firstLoss);
      } catch (e) {
        peer?.dispose();
        fx.dispose();
        throw e;
      }
      const p = peer;
      return {
        lopt: () => fx.lopt.step(fx.batch),
        peer: p.block ? { block: p.block } : () => p.step!(),
        dispose: () => {
          p.dispose();
          fx.dispose();
        },
      };
    },
  };
}

/**
 * lopt against jax-js with the whole meta-step (`valueAndGrad` of the meta-loss and Adam
 * on theta) compiled by `jit` on jax-js's wasm device; same init, batch and theta.
 */
const seedVsJaxjs = seedPeerCase(
  {
    name: 'seed meta-iteration vs jax-js',
    goal: 'faster than jax-js (< 1.0x)',
    goalRatio: 1.0,
    peerName: 'jax-js jit, wasm',
  },
  'jax-js',
  async (fx) => {
    const peer = await jaxjsSeed(fx.arrays);
    return { step: () => peer.step(), firstLoss: peer.step(), dispose: () => peer.dispose() };
  },
);

/**
 * lopt against PyTorch on the CPU with one thread. The Python process starts once in
 * setup and stays up; each of its blocks is many meta-iterations in a row, timed inside
 * Python, alternating with lopt's blocks.
 */
const seedVsTorch = seedPeerCase(
  {
    name: 'seed meta-iteration vs PyTorch CPU',
    goal: '<= 1.0x PyTorch CPU (1 thread)',
    goalRatio: 1.0,
    peerName: 'PyTorch CPU, 1 thread',
  },
  'PyTorch',
  async (fx) => {
    const why = torchUnavailable();
    if (why) throw new Error(`skip: ${why}`);
    const peer = await startTorchSeed(fx.arrays);
    process.stderr.write(`  ${peer.info}\n`);
    return { block: (n) => peer.block(n), firstLoss: peer.firstLoss, dispose: () => peer.dispose() };
  },
);

export default [seedVsPlainTfjs, seedVsJaxjs, seedVsTorch];
