import {
  type PRNGKey,
  random,
  type TreeDef,
  treeDispose,
  treeFlatten,
  treeUnflatten,
  valueAndGrad,
} from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import type { ImageTaskOptions } from './image-data.js';

/**
 * Where tests find the real datasets: `$LOPT_DATA_DIR` (a cache root holding
 * `fashion-mnist/` and `mnist/`), else the repository machines' shared copy. Nothing is
 * downloaded during tests.
 */
export function testDataOptions(): ImageTaskOptions {
  return { cacheRoot: process.env.LOPT_DATA_DIR!, download: false };
}

/**
 * Compares `valueAndGrad(f)` with central finite differences (step `eps`, in float32) on
 * `perLeaf` coordinates of every leaf of `params`; returns the worst error relative to
 * `max(1, |grad|)`.
 */
export function finiteDifferenceError<P>(f: (p: P) => tf.Scalar, params: P, perLeaf = 3, eps = 1e-2): number {
  return tf.tidy(() => {
    const [, g] = valueAndGrad(f)(params);
    const [leaves, def] = treeFlatten(params as never) as [tf.Tensor[], TreeDef];
    const gLeaves = treeFlatten(g as never)[0] as tf.Tensor[];
    let worst = 0;
    leaves.forEach((leaf, li) => {
      const base = leaf.dataSync();
      const gl = gLeaves[li]!.dataSync();
      for (let c = 0; c < perLeaf; c++) {
        // Spread the probed coordinates over the leaf.
        const idx = Math.floor(((c + 0.5) * base.length) / perLeaf);
        const at = (delta: number) => {
          const copy = Float32Array.from(base);
          copy[idx] = copy[idx]! + delta;
          const ls = leaves.map((l, j) => (j === li ? tf.tensor(copy, l.shape) : l));
          return f(treeUnflatten(def, ls) as P).dataSync()[0]!;
        };
        const fd = (at(eps) - at(-eps)) / (2 * eps);
        worst = Math.max(worst, Math.abs(fd - gl[idx]!) / Math.max(1, Math.abs(gl[idx]!)));
      }
    });
    return worst;
  });
}

/**
 * Checks a task's gradients on one of its batches against finite differences
 * (`perLeaf` coordinates a leaf, worst relative error below 1e-2), then that three
 * `valueAndGrad` calls leave no tensor behind. Frees `params` and `batch`.
 */
export function expectGradientsMatchWithoutLeaks<P, B>(
  task: { loss(p: P, key: PRNGKey, batch: B): tf.Scalar },
  params: P,
  batch: B,
  perLeaf: number,
): void {
  const start = tf.memory().numTensors;
  const err = finiteDifferenceError((q: P) => task.loss(q, random.PRNGKey(0), batch), params, perLeaf, 1e-2);
  expect(err).toBeLessThan(1e-2);
  for (let i = 0; i < 3; i++) {
    const [l, g] = valueAndGrad((q: P) => task.loss(q, random.PRNGKey(i), batch))(params);
    treeDispose(l, g);
  }
  expect(tf.memory().numTensors).toBe(start);
  treeDispose(params as never, batch as never);
}
