/**
 * What the seed's peers share with lopt: a fresh lopt seed meta-trainer, one real
 * Fashion-MNIST 8x8 batch from lopt's loader, and host copies of that batch and of the
 * initial MLP parameters lopt's first meta-iteration draws, so every peer computes the
 * same meta-loss from the same numbers.
 */

import type { Batch } from '@lopt/datasets';
import { type PRNGKey, random, treeDispose } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { loptSeed } from '../seed.js';

/** Host copies of the initial MLP parameters and one batch. */
export interface SeedArrays {
  /** `[64, 32]`, `[32]`, `[32, 10]`, `[10]`, row-major. */
  w0: Float32Array;
  b0: Float32Array;
  w1: Float32Array;
  b1: Float32Array;
  /** Images flattened to `[B, 64]`, row-major. */
  x: Float32Array;
  /** Integer class labels, `[B]`. */
  labels: Int32Array;
  /** B. */
  batchSize: number;
}

/** LearnableAdam's initial theta: ln 1e-3, ln(1 - 0.9), ln(1 - 0.999), ln 1e-8. */
export const INITIAL_THETA = {
  logLr: Math.log(1e-3),
  oneMinusBeta1: Math.log(1 - 0.9),
  oneMinusBeta2: Math.log(1 - 0.999),
  logEpsilon: Math.log(1e-8),
} as const;

/** The shared fixture; `loptFirstLoss` is the meta-loss of lopt's first meta-iteration. */
export interface SeedFixture {
  lopt: Awaited<ReturnType<typeof loptSeed>>;
  batch: Batch;
  arrays: SeedArrays;
  loptFirstLoss: number;
  dispose(): void;
}

/**
 * Loads the task, takes one training batch and runs lopt's first meta-iteration on it.
 * The initial parameters are drawn from the key that iteration uses (`seed.ts` splits
 * `PRNGKey(0)` into the step key, then splits that for the task's init).
 */
export async function seedFixture(): Promise<SeedFixture> {
  const lopt = await loptSeed();
  const batch = lopt.task.datasets!.train.next().value as Batch;
  const stepKey = (random.split(random.PRNGKey(0)) as [PRNGKey, PRNGKey])[1];
  const initKey = (random.split(stepKey) as [PRNGKey, PRNGKey])[0];
  const init = lopt.task.init(initKey);
  const l0 = init['mlp/~/linear_0']!;
  const l1 = init['mlp/~/linear_1']!;
  const batchSize = batch.image.shape[0]!;
  const arrays: SeedArrays = {
    w0: l0.w!.dataSync() as Float32Array,
    b0: l0.b!.dataSync() as Float32Array,
    w1: l1.w!.dataSync() as Float32Array,
    b1: l1.b!.dataSync() as Float32Array,
    x: batch.image.dataSync() as Float32Array,
    labels: Int32Array.from(batch.label.dataSync()),
    batchSize,
  };
  if (arrays.w0.length !== 64 * 32 || arrays.w1.length !== 32 * 10 || arrays.x.length !== batchSize * 64) {
    throw new Error(
      `seed fixture: unexpected shapes (w0 ${arrays.w0.length}, w1 ${arrays.w1.length}, images [${batch.image.shape.join(', ')}])`,
    );
  }
  treeDispose(init);
  const loptFirstLoss = lopt.step(batch);
  return {
    lopt,
    batch,
    arrays,
    loptFirstLoss,
    dispose() {
      lopt.dispose();
      tf.dispose([batch.image, batch.label]);
    },
  };
}

/**
 * Prints lopt's and a peer's first meta-loss (same theta, init and batch) to stderr and
 * throws when they differ by more than `rtol` relative: a peer computing something else
 * would make the timing meaningless.
 */
export function checkSameMetaLoss(peer: string, loptLoss: number, peerLoss: number, rtol = 1e-3): void {
  const rel = Math.abs(loptLoss - peerLoss) / Math.max(Math.abs(loptLoss), 1e-12);
  process.stderr.write(
    `  first meta-loss: lopt ${loptLoss.toFixed(7)}, ${peer} ${peerLoss.toFixed(7)} (relative difference ${rel.toExponential(2)})\n`,
  );
  if (!(rel <= rtol)) {
    throw new Error(
      `${peer} computes a different meta-loss than lopt for the same theta, init and batch: ${peerLoss} vs ${loptLoss}`,
    );
  }
}
