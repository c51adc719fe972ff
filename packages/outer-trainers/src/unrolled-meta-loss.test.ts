import { random, valueAndGrad } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { A, LrWdLOpt, type LrWdTheta, P0, quadTask } from './test-helpers.js';
import { unrolledMetaLoss } from './unrolled-meta-loss.js';

// On 0.5 * sum(a * p^2) the LrWd step is p <- (1 - lr * a - wd) * p, so after n steps the
// loss is 0.5 * sum(a * p0^2 * (1 - lr * a - wd)^(2n)): a float64 reference, gradient included.
function reference(lr: number, wd: number, n: number): { loss: number; dLr: number; dWd: number } {
  let loss = 0;
  let dLr = 0;
  let dWd = 0;
  A.forEach((a, i) => {
    const r = 1 - lr * a - wd;
    const c = 0.5 * a * P0[i]! ** 2;
    loss += c * r ** (2 * n);
    dLr += c * 2 * n * r ** (2 * n - 1) * -a;
    dWd += c * 2 * n * r ** (2 * n - 1) * -1;
  });
  return { loss, dLr, dWd };
}

describe('unrolledMetaLoss (the Part 1 meta-loss)', () => {
  it('equals the closed form, and so does its meta-gradient through the inner gradients', () => {
    const lopt = new LrWdLOpt(0.1, 0.05);
    const task = quadTask({ a: A });
    const start = tf.memory().numTensors;
    for (const n of [0, 1, 4]) {
      const metaLoss = unrolledMetaLoss(lopt, task, { unrollSteps: n });
      const theta: LrWdTheta = { lr: tf.scalar(0.3), wd: tf.scalar(0.02) };
      const [l, g] = valueAndGrad(metaLoss)(theta, random.PRNGKey(0), undefined);
      const ref = reference(0.3, 0.02, n);
      expect(l.dataSync()[0]).toBeCloseTo(ref.loss, 5);
      expect(g.lr.dataSync()[0]).toBeCloseTo(ref.dLr, 4);
      expect(g.wd.dataSync()[0]).toBeCloseTo(ref.dWd, 4);
      tf.dispose([l, g.lr, g.wd, theta.lr, theta.wd]);
    }
    expect(tf.memory().numTensors).toBe(start);
  });

  it('rejects a bad unroll length', () => {
    expect(() => unrolledMetaLoss(new LrWdLOpt(0.1, 0.05), quadTask({ a: A }), { unrollSteps: 1.5 })).toThrow(
      /unrollSteps must be a non-negative integer, got 1.5/,
    );
  });
});
