import * as tf from '@tensorflow/tfjs-core';
import type { Batch } from '@lopt/datasets';
import { random, setFusedKernelsEnabled, treeDispose, treeLeaves, valueAndGrad } from '@lopt/pytree';
import { describe, expect, test } from 'vitest';
import { ImageMLPTask } from './image-mlp-task.js';
import type { MLPParams } from './mlp.js';
import { fashionMnistDatasets } from '@lopt/datasets';
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

describe.each(['relu', 'tanh'] as const)('fused MLP valueAndGrad (%s) equals the plain ops', (activation) => {
  test('value, gradient and the meta-gradient through an update', async () => {
    const datasets = await fashionMnistDatasets({ batchSize: 16, imageSize: [4, 4], ...testDataOptions() });
    const task = new ImageMLPTask(datasets, { hiddenSizes: [8, 6], activation });
    const key = random.PRNGKey(3);
    const params = task.init(key);
    const batch = datasets.train.next().value as Batch;
    // A wrapper carries no attached valueAndGrad: the generic autodiff runs over the
    // task's loss, which is itself one fused kernel (with the VG kernel as its gradient).
    const wrapped = (p: MLPParams, k: random.PRNGKey, d: Batch) => task.loss(p, k, d);
    // With fused kernels off, everything runs as plain ops: the reference semantics.
    const plain = <T>(f: () => T): T => {
      setFusedKernelsEnabled(false);
      try {
        return f();
      } finally {
        setFusedKernelsEnabled(true);
      }
    };
    const before = tf.memory().numTensors;
    const [lf, gf] = valueAndGrad(task.loss)(params, key, batch);
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
          Object.entries(p).map(([m, mp]) => [m, { w: tf.sub(mp.w!, tf.mul(lr, g[m]!.w!)), b: tf.sub(mp.b!, tf.mul(lr, g[m]!.b!)) }]),
        );
      }
      return task.loss(p, key, batch);
    };
    const lr = tf.scalar(0.5);
    const [mf, dmf] = tf.tidy(() => valueAndGrad(meta(task.loss))(lr));
    const [mw, dmw] = tf.tidy(() => valueAndGrad(meta(wrapped))(lr));
    const [mp, dmp] = plain(() => tf.tidy(() => valueAndGrad(meta(task.loss))(lr)));
    expect(Math.abs(dmw.dataSync()[0]! - dmp.dataSync()[0]!)).toBeLessThan(1e-4 * Math.abs(dmp.dataSync()[0]!) + 1e-6);
    tf.dispose([mw, dmw]);
    expect(Math.abs(mf.dataSync()[0]! - mp.dataSync()[0]!)).toBeLessThan(1e-5);
    expect(Math.abs(dmf.dataSync()[0]! - dmp.dataSync()[0]!)).toBeLessThan(1e-4 * Math.abs(dmp.dataSync()[0]!) + 1e-6);
    tf.dispose([mf, dmf, mp, dmp, lr]);
    expect(tf.memory().numTensors).toBe(before);
    treeDispose(params, batch);
  });
});
