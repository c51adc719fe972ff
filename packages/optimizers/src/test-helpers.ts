// Helpers shared by this package's tests (not part of the public API).

import { type PyTree, random, treeLeaves } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { Optimizer } from './optimizer.js';

/** The small pytree the numerical tests train: a 4x3 matrix, a vector and a scalar. */
export interface TestParams {
  layer: { b: tf.Tensor; w: tf.Tensor };
  s: tf.Tensor;
}

/** Leaf shapes of `TestParams`, in flattening (sorted-key) order. */
export const TEST_SHAPES: number[][] = [[3], [4, 3], []];

/** Random test params from `seed`. */
export function testParams(seed: number): TestParams {
  const [k1, k2, k3] = random.split(random.PRNGKey(seed), 3);
  return { layer: { b: random.normal(k1!, [3]), w: random.normal(k2!, [4, 3]) }, s: random.normal(k3!, []) };
}

/**
 * Random gradients for step `i`; column 0 of `w` is exactly 0 (as for a dead unit) and
 * so is one entry of `b` on even steps.
 */
export function testGrads(seed: number, i: number): TestParams {
  return tf.tidy(() => {
    const key = random.foldIn(random.PRNGKey(seed + 1000), i);
    const [k1, k2, k3] = random.split(key, 3);
    const mask = tf.tensor2d([0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1], [4, 3]);
    const bmask = tf.tensor1d(i % 2 === 0 ? [1, 0, 1] : [1, 1, 1]);
    return {
      layer: { b: tf.mul(random.normal(k1!, [3]), bmask), w: tf.mul(random.normal(k2!, [4, 3]), mask) },
      s: random.normal(k3!, []),
    };
  });
}

/** The leaves of a tree as float64 arrays. */
export function leavesF64(tree: unknown): Float64Array[] {
  return treeLeaves(tree as PyTree).map((l) => Float64Array.from(l.dataSync()));
}

/**
 * Runs `opt` for `steps` updates on the test tree (disposing old states) and returns the
 * initial params, the gradients of each step and the final params, all as float64 leaves.
 */
export function runOptimizer(
  opt: Optimizer,
  steps: number,
  seed = 0,
): { p0: Float64Array[]; grads: Float64Array[][]; final: Float64Array[] } {
  const params = testParams(seed);
  const p0 = leavesF64(params);
  const grads: Float64Array[][] = [];
  let state = opt.init(params);
  for (let i = 0; i < steps; i++) {
    const g = testGrads(seed, i);
    grads.push(leavesF64(g));
    const next = opt.update(state, g);
    tf.dispose([state as unknown as tf.TensorContainer, g as unknown as tf.TensorContainer]);
    state = next;
  }
  const final = leavesF64(opt.getParams(state));
  tf.dispose(state as unknown as tf.TensorContainer);
  return { p0, grads, final };
}

/** max |a - b| / max |b - p0| over all leaves: the error relative to the distance moved. */
export function relativeError(a: Float64Array[], b: Float64Array[], p0: Float64Array[]): number {
  let err = 0;
  let scale = 0;
  a.forEach((x, i) => {
    x.forEach((v, j) => {
      err = Math.max(err, Math.abs(v - b[i]![j]!));
      scale = Math.max(scale, Math.abs(b[i]![j]! - p0[i]![j]!));
    });
  });
  return err / scale;
}
