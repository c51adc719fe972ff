import * as tf from '@tensorflow/tfjs-core';
import { assertSameStructure, type PyTree, treeFlatten } from '@lopt/pytree';

/**
 * Throws unless `grads` has the structure of `params` and every leaf the shape of the
 * matching param; the error names the first differing path.
 */
export function checkGrads(owner: string, params: unknown, grads: unknown): void {
  assertSameStructure(params, grads, `${owner}: grads and params`);
  const [ps] = treeFlatten(params as PyTree<unknown>);
  const [gs] = treeFlatten(grads as PyTree<unknown>);
  for (let i = 0; i < ps.length; i++) {
    const p = ps[i];
    const g = gs[i];
    if (!(g instanceof tf.Tensor)) throw new Error(`${owner}: grads leaf ${i} is not a tensor`);
    if (g.isDisposed) throw new Error(`${owner}: grads leaf ${i} (shape [${g.shape}]) has been disposed`);
    if (p instanceof tf.Tensor && !tf.util.arraysEqual(p.shape, g.shape)) {
      throw new Error(
        `${owner}: grads leaf ${i} has shape [${g.shape.join(', ')}] but the param has shape [${p.shape.join(', ')}]`,
      );
    }
  }
}

/** Throws unless every leaf of `params` is a float32 tensor. */
export function checkParams(owner: string, params: unknown): void {
  const [leaves] = treeFlatten(params as PyTree<unknown>);
  leaves.forEach((l, i) => {
    if (!(l instanceof tf.Tensor)) throw new Error(`${owner}: params leaf ${i} is not a tensor (${typeof l})`);
    if (l.dtype !== 'float32') throw new Error(`${owner}: params leaf ${i} is ${l.dtype}; parameters must be float32`);
    if (l.isDisposed) throw new Error(`${owner}: params leaf ${i} has been disposed`);
  });
}
