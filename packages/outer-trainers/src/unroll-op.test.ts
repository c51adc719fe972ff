import { LearnableAdam, type LearnableAdamTheta, LearnableSGD } from '@lopt/learned';
import { Adam } from '@lopt/optimizers';
import {
  fastPathCounts,
  fastPathsActive,
  type PRNGKey,
  random,
  resetFastPathCounts,
  setFastPathsEnabled,
  tidy,
  treeDispose,
  valueAndGrad,
} from '@lopt/pytree';
import { type ImageMLPTask, imageMlp, type MLPParams, ImageMLPTask as MlpTask } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { unrollOp } from './unroll-op.js';
import { unrolledMetaLoss } from './unrolled-meta-loss.js';

const DATA = { dataDir: `${process.env.LOPT_DATA_DIR}/fashion-mnist`, cacheRoot: null, download: false } as const;
type Batch = { image: tf.Tensor4D; label: tf.Tensor1D };

// Away from the initial theta (a larger step, other decays), so every term of the
// meta-gradient matters; the batch and init are real Fashion-MNIST ones.
const THETA = { logLr: Math.log(0.02), oneMinusBeta1: Math.log(0.2), oneMinusBeta2: Math.log(0.01), logEpsilon: -9 };
const theta = (): LearnableAdamTheta => ({
  logLr: tf.scalar(THETA.logLr),
  oneMinusBeta1: tf.scalar(THETA.oneMinusBeta1),
  oneMinusBeta2: tf.scalar(THETA.oneMinusBeta2),
  logEpsilon: tf.scalar(THETA.logEpsilon),
});
const NAMES = ['logLr', 'oneMinusBeta1', 'oneMinusBeta2', 'logEpsilon'] as const;
const read = (t: LearnableAdamTheta) => NAMES.map((n) => t[n].dataSync()[0]!);

let relu: ImageMLPTask;
let tanh3: ImageMLPTask;
let batch: Batch;

beforeAll(async () => {
  relu = await imageMlp.ImageMLP_FashionMnist8_Relu32(DATA);
  tanh3 = new MlpTask(relu.datasets!, { hiddenSizes: [16, 12], activation: 'tanh' });
  batch = relu.datasets!.train.next().value as Batch;
});

/** Meta-loss and meta-gradient of `steps` steps of LearnableAdam, fast paths on or off. */
function metaValueAndGrad(task: ImageMLPTask, steps: number, fast: boolean) {
  const previous = setFastPathsEnabled(fast);
  try {
    const th = theta();
    const [l, g] = valueAndGrad(unrolledMetaLoss(new LearnableAdam(), task, { unrollSteps: steps }))(
      th,
      random.PRNGKey(3),
      batch,
    );
    const out = { loss: l.dataSync()[0]!, grad: read(g) };
    treeDispose([l, g, th]);
    return out;
  } finally {
    setFastPathsEnabled(previous);
  }
}

const active = fastPathsActive();

describe('the unrolledMetaLoss op (LearnableAdam on an image MLP, one fused kernel)', () => {
  it.skipIf(!active).each([
    ['relu 64-32-10', 4, () => relu],
    ['relu 64-32-10', 1, () => relu],
    ['tanh 64-16-12-10', 3, () => tanh3],
    ['tanh 64-16-12-10', 0, () => tanh3],
  ] as const)('%s, %i steps: the kernel gives the reference meta-loss and meta-gradient', (_, steps, task) => {
    resetFastPathCounts();
    const fast = metaValueAndGrad(task(), steps, true);
    expect(fastPathCounts().unrolledMetaLoss).toEqual({ fast: 1, plain: 0 });
    const plain = metaValueAndGrad(task(), steps, false);
    expect(fast.loss).toBeCloseTo(plain.loss, 5);
    fast.grad.forEach((g, i) => {
      expect(Math.abs(g - plain.grad[i]!)).toBeLessThanOrEqual(2e-4 * Math.abs(plain.grad[i]!) + 1e-6);
    });
    if (steps > 0) expect(fast.grad.every((g) => g !== 0 && Number.isFinite(g))).toBe(true);
  });

  it.skipIf(!active)('its meta-gradient agrees with central differences of the meta-loss (smooth tanh MLP)', () => {
    // With relu the meta-loss has kinks wherever a unit of the batch changes sign, which
    // finite differences straddle; the tanh MLP's meta-loss is smooth.
    const { grad } = metaValueAndGrad(tanh3, 3, true);
    const metaLoss = unrolledMetaLoss(new LearnableAdam(), tanh3, { unrollSteps: 3 });
    const at = (i: number, h: number) => {
      const t = theta();
      const shifted = { ...t, [NAMES[i]!]: tf.scalar(THETA[NAMES[i]!] + h) };
      const l = metaLoss(shifted, random.PRNGKey(3), batch);
      const v = l.dataSync()[0]!;
      treeDispose([l, t, shifted]);
      return v;
    };
    // The meta-loss is float32: steps large enough for its rounding to stay far below the slope.
    NAMES.forEach((_, i) => {
      const h = 1e-2;
      const fd = (at(i, h) - at(i, -h)) / (2 * h);
      expect(Math.abs(grad[i]! - fd)).toBeLessThanOrEqual(0.02 * Math.abs(fd) + 2e-4);
    });
  });

  it.skipIf(!active)("gives the cotangent of the initial parameters too (the reference's)", () => {
    const keys = () => Array.from({ length: 3 }, (_, i) => random.PRNGKey(i)) as PRNGKey[];
    const run = (fast: boolean) => {
      const previous = setFastPathsEnabled(fast);
      try {
        const th = theta();
        const p0 = tanh3.init(random.PRNGKey(7));
        const f = (t: LearnableAdamTheta, p: MLPParams) =>
          unrollOp(new LearnableAdam(), tanh3 as never, t, p, keys(), random.PRNGKey(9), batch);
        const [l, [gt, gp]] = valueAndGrad(f, { argnums: [0, 1] })(th, p0);
        const out = {
          loss: l.dataSync()[0]!,
          theta: read(gt),
          params: Object.values(gp).flatMap((m) => [...m.w!.dataSync(), ...m.b!.dataSync()]),
        };
        treeDispose([l, gt, gp, th, p0]);
        return out;
      } finally {
        setFastPathsEnabled(previous);
      }
    };
    resetFastPathCounts();
    const fast = run(true);
    expect(fastPathCounts().unrolledMetaLoss!.fast).toBe(1);
    const plain = run(false);
    expect(fast.loss).toBeCloseTo(plain.loss, 5);
    const scale = Math.max(...plain.params.map(Math.abs));
    expect(scale).toBeGreaterThan(0);
    fast.params.forEach((g, i) => {
      expect(Math.abs(g - plain.params[i]!)).toBeLessThanOrEqual(2e-4 * scale);
    });
    fast.theta.forEach((g, i) => {
      expect(Math.abs(g - plain.theta[i]!)).toBeLessThanOrEqual(2e-4 * Math.abs(plain.theta[i]!) + 1e-6);
    });
  });

  // The kernels treat the images as data: differentiated with respect to them, the op runs
  // its reference, so the gradient is the true one (never zeros), on every backend and leg.
  it('differentiated with respect to the images, it gives their true gradient', () => {
    const metaLoss = unrolledMetaLoss(new LearnableAdam(), tanh3, { unrollSteps: 2 });
    // A larger epsilon than THETA's keeps Adam's steps smooth in the images, so finite
    // differences of float32 meta-losses resolve their slope.
    const base = theta();
    base.logEpsilon.dispose();
    const th = { ...base, logEpsilon: tf.scalar(Math.log(0.1)) };
    const v = random.normal(random.PRNGKey(21), batch.image.shape);
    const s0 = tf.scalar(1.2);
    const before = tf.memory().numTensors;
    const ofImages = (x: tf.Tensor) => metaLoss(th, random.PRNGKey(3), { image: x as tf.Tensor4D, label: batch.label });
    const run = (fast: boolean) => {
      const previous = setFastPathsEnabled(fast);
      try {
        return tidy(() => {
          const [l, [gTheta, gBatch]] = valueAndGrad(
            (t: LearnableAdamTheta, k: PRNGKey, b: Batch) => metaLoss(t, k, b),
            { argnums: [0, 2] },
          )(th, random.PRNGKey(3), batch);
          // A learned augmentation: the images scaled by s, differentiated through the unroll.
          const ds = valueAndGrad((sc: tf.Scalar) => ofImages(tf.mul(batch.image, sc)))(s0)[1];
          return { l, gTheta, gImage: gBatch.image, gLabel: gBatch.label, ds };
        });
      } finally {
        setFastPathsEnabled(previous);
      }
    };
    resetFastPathCounts();
    const fast = run(true);
    expect(fastPathCounts().unrolledMetaLoss).toEqual({ fast: 0, plain: 2 });
    const plain = run(false);
    const gi = fast.gImage.dataSync();
    const gp = plain.gImage.dataSync();
    const scale = Math.max(...Array.from(gp, Math.abs));
    expect(scale).toBeGreaterThan(0);
    gi.forEach((g, i) => expect(Math.abs(g - gp[i]!)).toBeLessThanOrEqual(1e-5 * scale));
    expect(Array.from(fast.gLabel.dataSync()).every((x) => x === 0)).toBe(true);
    expect(fast.ds.dataSync()[0]).toBeCloseTo(plain.ds.dataSync()[0]!, 6);
    read(fast.gTheta).forEach((g, i) => expect(g).toBeCloseTo(read(plain.gTheta)[i]!, 6));
    // Central differences along a random direction of the images, and along s.
    const byGrad = tf.tidy(() => tf.sum(tf.mul(fast.gImage, v)).dataSync()[0]!);
    const along = (h: number) => tidy(() => ofImages(tf.add(batch.image, tf.mul(v, h))).dataSync()[0]!);
    const fd = (along(1e-2) - along(-1e-2)) / 2e-2;
    expect(Math.abs(byGrad)).toBeGreaterThan(1e-3);
    expect(Math.abs(fd - byGrad)).toBeLessThanOrEqual(1e-2 * Math.abs(byGrad));
    const bys = (h: number) => tidy(() => ofImages(tf.mul(batch.image, 1.2 + h)).dataSync()[0]!);
    const fdS = (bys(1e-2) - bys(-1e-2)) / 2e-2;
    const dsFast = fast.ds.dataSync()[0]!;
    expect(Math.abs(dsFast)).toBeGreaterThan(1e-3);
    expect(Math.abs(fdS - dsFast)).toBeLessThanOrEqual(1e-2 * Math.abs(dsFast));
    treeDispose([fast, plain]);
    expect(tf.memory().numTensors).toBe(before);
    treeDispose([th, v, s0]);
  });

  it('second derivatives run the reference and equal the plain path', () => {
    // d/dtheta of (meta-gradient . v): a second tape around the op, so the reference runs.
    const v = [0.3, -0.2, 0.5, 0.1];
    const second = (fast: boolean) => {
      const previous = setFastPathsEnabled(fast);
      try {
        const metaLoss = unrolledMetaLoss(new LearnableAdam(), relu, { unrollSteps: 2 });
        const th = theta();
        const inner = valueAndGrad(metaLoss);
        const [l, g] = valueAndGrad((t: LearnableAdamTheta) => {
          const [ml, gt] = inner(t, random.PRNGKey(3), batch);
          ml.dispose();
          return tf.addN(NAMES.map((n, i) => tf.mul(gt[n], v[i]!))) as tf.Scalar;
        })(th);
        const out = read(g);
        treeDispose([l, g, th]);
        return out;
      } finally {
        setFastPathsEnabled(previous);
      }
    };
    resetFastPathCounts();
    const a = second(true);
    expect(fastPathCounts().unrolledMetaLoss).toEqual({ fast: 0, plain: 1 });
    const b = second(false);
    a.forEach((x, i) => {
      expect(Math.abs(x - b[i]!)).toBeLessThanOrEqual(1e-3 * Math.abs(b[i]!) + 1e-6);
    });
    expect(a.some((x) => x !== 0)).toBe(true);
  });

  it('runs the reference for other learned optimizers', () => {
    resetFastPathCounts();
    const lopt = new LearnableSGD(0.05);
    const th = lopt.init(random.PRNGKey(0));
    const [l, g] = valueAndGrad(unrolledMetaLoss(lopt, relu, { unrollSteps: 2 }))(th, random.PRNGKey(3), batch);
    expect(fastPathCounts().unrolledMetaLoss).toEqual({ fast: 0, plain: 1 });
    expect(Number.isFinite(g.logLr.dataSync()[0]!)).toBe(true);
    treeDispose([l, g, th]);
  });

  it("a bad parameter shape is the task's clear error on the fast path too", () => {
    const th = theta();
    const p0 = relu.init(random.PRNGKey(0));
    const bad = { ...p0, 'mlp/~/linear_1': { w: tf.zeros([31, 10]), b: tf.zeros([10]) } };
    expect(() =>
      unrollOp(new LearnableAdam(), relu as never, th, bad, [random.PRNGKey(1)], random.PRNGKey(2), batch),
    ).toThrow(/linear_1/);
    treeDispose([th, p0, bad['mlp/~/linear_1']]);
  });

  it('meta-training Part 1 for 30 iterations frees every tensor and raises the learning rate', () => {
    const lopt = new LearnableAdam();
    const metaVg = valueAndGrad(unrolledMetaLoss(lopt, relu, { unrollSteps: 4 }));
    const thetaOpt = new Adam(0.1);
    let state = thetaOpt.init(lopt.init(random.PRNGKey(0)));
    const lr0 = Math.exp(thetaOpt.getParams(state).logLr.dataSync()[0]!);
    const start = tf.memory().numTensors;
    let key = random.PRNGKey(1);
    for (let i = 0; i < 30; i++) {
      let k: PRNGKey;
      [key, k] = random.split(key) as [PRNGKey, PRNGKey];
      const next = tidy(() => {
        const [ml, g] = metaVg(thetaOpt.getParams(state), k, batch);
        return thetaOpt.update(state, g, { loss: ml });
      });
      treeDispose(state);
      state = next;
    }
    expect(tf.memory().numTensors).toBe(start);
    // One batch, four steps from lr 1e-3: a larger learning rate lowers that meta-loss.
    expect(Math.exp(thetaOpt.getParams(state).logLr.dataSync()[0]!)).toBeGreaterThan(3 * lr0);
    treeDispose(state);
  });
});
