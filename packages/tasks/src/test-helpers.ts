import { type TreeDef, treeFlatten, treeUnflatten, valueAndGrad } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
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
