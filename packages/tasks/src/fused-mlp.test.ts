import type { Batch } from '@lopt/datasets';
import { fashionMnistDatasets } from '@lopt/datasets';
import {
  fastPathCounts,
  fastPathsActive,
  grad,
  random,
  resetFastPathCounts,
  setFastPathsEnabled,
  treeDispose,
  treeLeaves,
  valueAndGrad,
} from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import { stackParams } from './batched.js';
import { ImageMLPTask } from './image-mlp-task.js';
import type { MLPParams } from './mlp.js';
import { testDataOptions } from './test-helpers.js';

const maxRelErr = (a: tf.Tensor, b: tf.Tensor) => {
  const x = a.dataSync();
  const y = b.dataSync();
  let scale = 1e-6;
  let err = 0;
  for (let i = 0; i < x.length; i++) {
    scale = Math.max(scale, Math.abs(y[i]!));
    err = Math.max(err, Math.abs(x[i]! - y[i]!));
  }
  return err / scale;
};

// The kernels are compared with their plain-op references only where they can run (cpu
// and wasm, fast paths on); elsewhere the comparison is skipped, not run plain against plain.
const active = fastPathsActive();

describe.skipIf(!active).each(['relu', 'tanh'] as const)(
  'the fused MLP loss (%s) equals its plain-op reference',
  (activation) => {
    test('value, gradient and the meta-gradient through an update', async () => {
      const datasets = await fashionMnistDatasets({ batchSize: 16, imageSize: [4, 4], ...testDataOptions() });
      const task = new ImageMLPTask(datasets, { hiddenSizes: [8, 6], activation });
      const key = random.PRNGKey(3);
      const params = task.init(key);
      const batch = datasets.train.next().value as Batch;
      // A wrapper, or hasAux, changes nothing: the loss is the mlpLoss op, whose kernel has
      // the fused value-and-grad kernel as its gradient.
      const wrapped = (p: MLPParams, k: random.PRNGKey, d: Batch) => task.loss(p, k, d);
      // With fused kernels off, everything runs as plain ops: the reference semantics.
      const plain = <T>(f: () => T): T => {
        setFastPathsEnabled(false);
        try {
          return f();
        } finally {
          setFastPathsEnabled(true);
        }
      };
      const before = tf.memory().numTensors;
      resetFastPathCounts();
      const [lf, gf] = valueAndGrad(task.loss)(params, key, batch);
      const [[la, aux], ga] = valueAndGrad(
        (p: MLPParams) => [task.loss(p, key, batch), tf.scalar(7)] as [tf.Scalar, tf.Scalar],
        { hasAux: true },
      )(params);
      expect(fastPathCounts()['ImageMLPTask.loss']).toEqual({ fast: 2, plain: 0 });
      expect(la.dataSync()[0]).toBe(lf.dataSync()[0]);
      treeDispose(la, aux, ga);
      const [lw, gw] = valueAndGrad(wrapped)(params, key, batch);
      const [lp, gp] = plain(() => valueAndGrad(task.loss)(params, key, batch));
      expect(Math.abs(lw.dataSync()[0]! - lp.dataSync()[0]!)).toBeLessThan(1e-5);
      treeLeaves(gw).forEach((g, i) => expect(maxRelErr(g, treeLeaves(gp)[i]!)).toBeLessThan(1e-4));
      treeDispose(lw, gw);
      expect(Math.abs(lf.dataSync()[0]! - lp.dataSync()[0]!)).toBeLessThan(1e-5);
      treeLeaves(gf).forEach((g, i) => expect(maxRelErr(g, treeLeaves(gp)[i]!)).toBeLessThan(1e-4));
      treeDispose(lf, gf, lp, gp);

      // Second order: d/d(lr) of the loss after two SGD steps (through the inner gradients).
      const meta = (lossFn: typeof wrapped) => (lr: tf.Scalar) => {
        let p = params;
        for (let i = 0; i < 2; i++) {
          const [, g] = valueAndGrad(lossFn)(p, key, batch);
          p = Object.fromEntries(
            Object.entries(p).map(([m, mp]) => [
              m,
              { w: tf.sub(mp.w!, tf.mul(lr, g[m]!.w!)), b: tf.sub(mp.b!, tf.mul(lr, g[m]!.b!)) },
            ]),
          );
        }
        return task.loss(p, key, batch);
      };
      const lr = tf.scalar(0.5);
      resetFastPathCounts();
      const [mf, dmf] = tf.tidy(() => valueAndGrad(meta(task.loss))(lr));
      // Under two tapes (inner gradients inside the meta-gradient) the kernel still runs.
      expect(fastPathCounts()['ImageMLPTask.loss']!.plain).toBe(0);
      const [mw, dmw] = tf.tidy(() => valueAndGrad(meta(wrapped))(lr));
      const [mp, dmp] = plain(() => tf.tidy(() => valueAndGrad(meta(task.loss))(lr)));
      expect(Math.abs(dmw.dataSync()[0]! - dmp.dataSync()[0]!)).toBeLessThan(
        1e-4 * Math.abs(dmp.dataSync()[0]!) + 1e-6,
      );
      tf.dispose([mw, dmw]);
      expect(Math.abs(mf.dataSync()[0]! - mp.dataSync()[0]!)).toBeLessThan(1e-5);
      expect(Math.abs(dmf.dataSync()[0]! - dmp.dataSync()[0]!)).toBeLessThan(
        1e-4 * Math.abs(dmp.dataSync()[0]!) + 1e-6,
      );
      tf.dispose([mf, dmf, mp, dmp, lr]);
      expect(tf.memory().numTensors).toBe(before);
      treeDispose(params, batch);
    });
  },
);

describe.skipIf(!active)('the fused K-problem MLP losses equal their plain-op reference', () => {
  test.each([false, true])('losses, gradients and second order (per-problem data: %s)', async (perMember) => {
    const datasets = await fashionMnistDatasets({ batchSize: 8, imageSize: [4, 4], ...testDataOptions() });
    const task = new ImageMLPTask(datasets, { hiddenSizes: [6], activation: 'tanh' });
    const K = 3;
    const keys = random.split(random.PRNGKey(9), K);
    const stacked = stackParams(keys.map((k) => task.init(k)));
    const batches = keys.map(() => datasets.train.next().value as Batch);
    const data: Batch = perMember
      ? {
          image: tf.stack(batches.map((b) => b.image)) as tf.Tensor4D,
          label: tf.stack(batches.map((b) => b.label)) as tf.Tensor1D,
        }
      : batches[0]!;
    const before = tf.memory().numTensors;
    const weights = tf.tensor1d([0.5, -1, 2]);
    // Loss weighted per problem, and a second-order quantity: d/d(scale) of the loss after
    // one gradient step scaled by `scale`.
    const f = (p: MLPParams) => tf.sum(tf.mul(task.batchedLoss(p, keys, data), weights)) as tf.Scalar;
    const second = (scale: tf.Scalar) => {
      const g = grad(f)(stacked);
      const moved = Object.fromEntries(
        Object.entries(stacked).map(([m, mp]) => [
          m,
          { w: tf.sub(mp.w!, tf.mul(scale, g[m]!.w!)), b: tf.sub(mp.b!, tf.mul(scale, g[m]!.b!)) },
        ]),
      );
      return f(moved);
    };
    const run = (fused: boolean) => {
      setFastPathsEnabled(fused);
      resetFastPathCounts();
      try {
        const out = tf.tidy(() => {
          const [v, g] = valueAndGrad(f)(stacked);
          const [, d2] = valueAndGrad(second)(tf.scalar(0.3));
          return { v, g, d2 };
        });
        const c = fastPathCounts()['ImageMLPTask.batchedLoss']!;
        expect(fused ? c.plain : c.fast).toBe(0);
        return out;
      } finally {
        setFastPathsEnabled(true);
      }
    };
    const a = run(true);
    const b = run(false);
    expect(Math.abs(a.v.dataSync()[0]! - b.v.dataSync()[0]!)).toBeLessThan(1e-5);
    treeLeaves(a.g).forEach((x, i) => expect(maxRelErr(x, treeLeaves(b.g)[i]!)).toBeLessThan(1e-4));
    expect(Math.abs(a.d2.dataSync()[0]! - b.d2.dataSync()[0]!)).toBeLessThan(
      1e-4 * Math.abs(b.d2.dataSync()[0]!) + 1e-6,
    );
    treeDispose(a, b, weights);
    expect(tf.memory().numTensors).toBe(before);
    treeDispose(stacked, batches, perMember ? data : []);
  });
});
