// The optimizer wrappers against float64 references built from their definitions.

import { treeDispose } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import {
  Adam,
  GradientAccumulator,
  GradientClipOptimizer,
  GraftedOptimizer,
  SGD,
  SGDM,
  WeightDecayWrapper,
} from '../index.js';
import { relativeError, runOptimizer } from '../test-helpers.js';

const STEPS = 50;

/** Float64 SGD-family reference over recorded gradients, applied elementwise. */
function sgdRef(p0: Float64Array[], grads: Float64Array[][], step: (p: number, g: number) => number) {
  const ps = p0.map((p) => Float64Array.from(p));
  for (const gs of grads) ps.forEach((p, j) => p.forEach((v, i) => (p[i] = step(v, gs[j]![i]!))));
  return ps;
}

describe('wrappers', () => {
  test('GradientClipOptimizer clips each gradient element', () => {
    const { p0, grads, final } = runOptimizer(new GradientClipOptimizer(new SGD(0.1), 0.5), STEPS);
    const ref = sgdRef(p0, grads, (p, g) => p - 0.1 * Math.min(0.5, Math.max(-0.5, g)));
    expect(relativeError(final, ref, p0)).toBeLessThan(1e-5);
    expect(() => new GradientClipOptimizer(SGD as never)).toThrow(/instance/);
  });

  test('WeightDecayWrapper adds weightDecay * params to the gradients', () => {
    const { p0, grads, final } = runOptimizer(new WeightDecayWrapper(new SGD(0.1), 0.3), STEPS);
    const ref = sgdRef(p0, grads, (p, g) => p - 0.1 * (g + 0.3 * p));
    expect(relativeError(final, ref, p0)).toBeLessThan(1e-5);
  });

  test('GradientAccumulator steps every numAverage calls with the mean gradient', () => {
    const { p0, grads, final } = runOptimizer(new GradientAccumulator(new SGDM(0.1, 0.5), 3), 51);
    const ps = p0.map((p) => Float64Array.from(p));
    const acc = p0.map((p) => new Float64Array(p.length));
    const tr = p0.map((p) => new Float64Array(p.length));
    grads.forEach((gs, i) => {
      gs.forEach((g, j) => g.forEach((v, k) => (acc[j]![k]! += v)));
      if ((i + 1) % 3 === 0) {
        ps.forEach((p, j) =>
          p.forEach((v, k) => {
            tr[j]![k] = 0.5 * tr[j]![k]! + acc[j]![k]! / 3;
            p[k] = v - 0.1 * tr[j]![k]!;
            acc[j]![k] = 0;
          }),
        );
      }
    });
    expect(relativeError(final, ps, p0)).toBeLessThan(1e-5);
  });

  test('GraftedOptimizer: the direction of one step with the global norm of the other', () => {
    const { p0, grads, final } = runOptimizer(new GraftedOptimizer(new SGD(0.05), new SGDM(1, 0.9)), STEPS);
    const ps = p0.map((p) => Float64Array.from(p));
    const tr = p0.map((p) => new Float64Array(p.length));
    for (const gs of grads) {
      let magSq = 0;
      let dirSq = 0;
      gs.forEach((g, j) =>
        g.forEach((v, k) => {
          tr[j]![k] = 0.9 * tr[j]![k]! + v;
          magSq += (0.05 * v) ** 2;
          dirSq += tr[j]![k]! ** 2;
        }),
      );
      const size = Math.sqrt(magSq) / Math.sqrt(dirSq);
      ps.forEach((p, j) => p.forEach((v, k) => (p[k] = v - size * tr[j]![k]!)));
    }
    expect(relativeError(final, ps, p0)).toBeLessThan(1e-5);
  });

  test('wrapper loops are leak-free', () => {
    const start = tf.memory().numTensors;
    for (const opt of [
      new GradientAccumulator(new Adam(1e-3), 2),
      new GraftedOptimizer(new SGD(0.1), new Adam(1e-3)),
      new WeightDecayWrapper(new Adam(1e-3), 0.1),
    ]) {
      runOptimizer(opt, 7);
    }
    expect(tf.memory().numTensors).toBe(start);
    const acc = new GradientAccumulator(new SGD(0.1), 2);
    const s = acc.init({ w: tf.zeros([2]) });
    expect(() => acc.update(new SGD(0.1).init({ w: tf.zeros([2]) }), { w: tf.zeros([2]) })).toThrow(/gradAccum/);
    treeDispose(s);
  });
});
