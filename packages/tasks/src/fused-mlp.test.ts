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

const tidyValue = (f: () => tf.Tensor) => {
  const t = tf.tidy(f);
  const v = t.dataSync()[0]!;
  t.dispose();
  return v;
};

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

test("the K-problem loss's reference gives K separate single-problem losses", async () => {
  const datasets = await fashionMnistDatasets({ batchSize: 8, imageSize: [4, 4], ...testDataOptions() });
  const task = new ImageMLPTask(datasets, { hiddenSizes: [6], activation: 'relu' });
  const keys = random.split(random.PRNGKey(4), 3);
  const members = keys.map((k) => task.init(k));
  const stacked = stackParams(members);
  const batches = keys.map(() => datasets.train.next().value as Batch);
  const perMember: Batch = {
    image: tf.stack(batches.map((b) => b.image)) as tf.Tensor4D,
    label: tf.stack(batches.map((b) => b.label)) as tf.Tensor1D,
  };
  const before = tf.memory().numTensors;
  const previous = setFastPathsEnabled(false);
  try {
    resetFastPathCounts();
    const shared = task.batchedLoss(stacked, keys, batches[0]!);
    const each = task.batchedLoss(stacked, keys, perMember);
    expect(fastPathCounts()['ImageMLPTask.batchedLoss']).toEqual({ fast: 0, plain: 2 });
    const single = (i: number, b: Batch) => task.plainLoss(members[i]!, b);
    // Batched matmuls against K single ones: equal up to float32 summation order.
    const close = (got: tf.Tensor, want: number[]) =>
      Array.from(got.dataSync()).forEach((v, i) =>
        expect(Math.abs(v - want[i]!)).toBeLessThan(1e-6 * Math.abs(want[i]!)),
      );
    close(
      shared,
      members.map((_, i) => tidyValue(() => single(i, batches[0]!))),
    );
    close(
      each,
      members.map((_, i) => tidyValue(() => single(i, batches[i]!))),
    );
    tf.dispose([shared, each]);
  } finally {
    setFastPathsEnabled(previous);
  }
  expect(tf.memory().numTensors).toBe(before);
  treeDispose(members, stacked, batches, perMember);
});

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

/**
 * `f`'s directional derivative along `v` by central finite differences in float32, and by
 * the gradient `g`: the two must agree, and a zero gradient would not.
 */
function directional(f: (x: tf.Tensor) => tf.Scalar, x: tf.Tensor, g: tf.Tensor, v: tf.Tensor, eps = 2e-3) {
  return tf.tidy(() => {
    const at = (s: number) => f(tf.add(x, tf.mul(v, s))).dataSync()[0]!;
    return { fd: (at(eps) - at(-eps)) / (2 * eps), byGrad: tf.sum(tf.mul(g, v)).dataSync()[0]! };
  });
}

// Where the fused kernels can run they give the images no gradient; the ops then run their
// reference. These run on every backend and leg: against finite differences always, and
// against the reference (fast paths off) where the kernels could have run. Finite
// differences cross relu's kinks, so the relu nets get a looser tolerance: a zero
// gradient is still off by all of it.
describe.each([
  ['relu', 0.1],
  ['tanh', 1e-2],
] as const)('the MLP losses differentiated with respect to the images (%s)', (activation, fdTol) => {
  const plain = <T>(f: () => T): T => {
    const previous = setFastPathsEnabled(false);
    try {
      return f();
    } finally {
      setFastPathsEnabled(previous);
    }
  };

  test('the loss: the true input gradient, first and through an inner step', async () => {
    const datasets = await fashionMnistDatasets({ batchSize: 16, imageSize: [4, 4], ...testDataOptions() });
    const task = new ImageMLPTask(datasets, { hiddenSizes: [8, 6], activation });
    const key = random.PRNGKey(5);
    const params = task.init(key);
    const batch = datasets.train.next().value as Batch;
    const v = random.normal(random.PRNGKey(6), batch.image.shape);
    const before = tf.memory().numTensors;
    const lossOfImage = (x: tf.Tensor) => task.loss(params, key, { image: x as tf.Tensor4D, label: batch.label });
    resetFastPathCounts();
    const g = grad(lossOfImage)(batch.image);
    expect(fastPathCounts()['ImageMLPTask.loss']).toEqual({ fast: 0, plain: 1 });
    const gPlain = plain(() => grad(lossOfImage)(batch.image));
    expect(maxRelErr(g, gPlain)).toBeLessThan(1e-6);
    const { fd, byGrad } = directional(lossOfImage, batch.image, g, v);
    expect(Math.abs(byGrad)).toBeGreaterThan(1e-3);
    expect(Math.abs(fd - byGrad)).toBeLessThan(fdTol * Math.abs(byGrad));
    // The images scaled by a learned factor, one SGD step on that batch, then the loss:
    // second order, the inner gradient's dependence on the images included.
    const afterStep = (s: tf.Scalar) => {
      const data: Batch = { image: tf.mul(batch.image, s) as tf.Tensor4D, label: batch.label };
      const gi = grad((p: MLPParams) => task.loss(p, key, data))(params);
      const moved = Object.fromEntries(
        Object.entries(params).map(([m, mp]) => [
          m,
          { w: tf.sub(mp.w!, tf.mul(0.5, gi[m]!.w!)), b: tf.sub(mp.b!, tf.mul(0.5, gi[m]!.b!)) },
        ]),
      );
      return task.loss(moved, key, data);
    };
    const s = tf.scalar(1.3);
    resetFastPathCounts();
    const ds = tf.tidy(() => grad(afterStep)(s));
    expect(fastPathCounts()['ImageMLPTask.loss']!.fast).toBe(0);
    const dsPlain = plain(() => tf.tidy(() => grad(afterStep)(s)));
    expect(Math.abs(ds.dataSync()[0]! - dsPlain.dataSync()[0]!)).toBeLessThan(1e-5 * Math.abs(dsPlain.dataSync()[0]!));
    const fdS = tf.tidy(() => {
      const e = 1e-2;
      return (afterStep(tf.scalar(1.3 + e)).dataSync()[0]! - afterStep(tf.scalar(1.3 - e)).dataSync()[0]!) / (2 * e);
    });
    expect(Math.abs(ds.dataSync()[0]!)).toBeGreaterThan(1e-3);
    expect(Math.abs(fdS - ds.dataSync()[0]!)).toBeLessThan(fdTol * Math.abs(ds.dataSync()[0]!));
    tf.dispose([g, gPlain, ds, dsPlain, s]);
    expect(tf.memory().numTensors).toBe(before);
    treeDispose(params, batch, v);
  });

  test.each([false, true])('the K-problem losses (per-problem data: %s)', async (perMember) => {
    const datasets = await fashionMnistDatasets({ batchSize: 8, imageSize: [4, 4], ...testDataOptions() });
    const task = new ImageMLPTask(datasets, { hiddenSizes: [6], activation });
    const K = 3;
    const keys = random.split(random.PRNGKey(11), K);
    const stacked = stackParams(keys.map((k) => task.init(k)));
    const batches = keys.map(() => datasets.train.next().value as Batch);
    const data: Batch = perMember
      ? {
          image: tf.stack(batches.map((b) => b.image)) as tf.Tensor4D,
          label: tf.stack(batches.map((b) => b.label)) as tf.Tensor1D,
        }
      : batches[0]!;
    const v = random.normal(random.PRNGKey(12), data.image.shape);
    const weights = tf.tensor1d([0.5, -1, 2]);
    const before = tf.memory().numTensors;
    const f = (x: tf.Tensor) =>
      tf.sum(
        tf.mul(task.batchedLoss(stacked, keys, { image: x as tf.Tensor4D, label: data.label }), weights),
      ) as tf.Scalar;
    resetFastPathCounts();
    const g = grad(f)(data.image);
    expect(fastPathCounts()['ImageMLPTask.batchedLoss']!.fast).toBe(0);
    const gPlain = plain(() => grad(f)(data.image));
    expect(maxRelErr(g, gPlain)).toBeLessThan(1e-6);
    const { fd, byGrad } = directional(f, data.image, g, v);
    expect(Math.abs(byGrad)).toBeGreaterThan(1e-3);
    expect(Math.abs(fd - byGrad)).toBeLessThan(fdTol * Math.abs(byGrad));
    // Differentiated with respect to the parameters alone, the fused kernel still runs.
    resetFastPathCounts();
    treeDispose(grad((p: MLPParams) => tf.sum(task.batchedLoss(p, keys, data)) as tf.Scalar)(stacked));
    expect(fastPathCounts()['ImageMLPTask.batchedLoss']).toEqual(
      active ? { fast: 1, plain: 0 } : { fast: 0, plain: 1 },
    );
    tf.dispose([g, gPlain]);
    expect(tf.memory().numTensors).toBe(before);
    treeDispose(stacked, batches, perMember ? data : [], v, weights);
  });
});
