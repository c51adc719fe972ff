import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AdafacMLPLOpt,
  Celo2,
  celo2Theta,
  LearnableAdam,
  LearnableSGD,
  LearnableSGDM,
  type LearnedOptimizer,
  learnedOptimizerFromOpt,
  loadTheta,
  MLPLOpt,
  NNAdam,
  RNNMLPLOpt,
  SumLearnedOptimizer,
  saveTheta,
} from '@lopt/learned';
import { SGD } from '@lopt/optimizers';
import { random, treeDispose, treeLeaves } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asTfOptimizer } from './index.js';
import { accuracy, type FashionArrays, fashion, maxRelativeError, mlp, weightsOf } from './test-helpers.js';

let train: FashionArrays;
let test: FashionArrays;
beforeAll(async () => {
  train = await fashion('train', 8192);
  test = await fashion('test', 2000);
});
afterAll(() => tf.dispose([train.x, train.y, test.x, test.y]));

async function trainWith(lopt: LearnedOptimizer<unknown>, epochs: number, n = 2048) {
  const theta = lopt.init(random.PRNGKey(0));
  const inner = lopt.optFn(theta);
  // What optFn made belongs to the caller; count from here.
  const start = tf.memory().numTensors;
  const model = mlp();
  const opt = asTfOptimizer(inner, { numSteps: (epochs * n) / 128 });
  model.compile({ optimizer: opt, loss: 'categoricalCrossentropy' });
  const x = n === 8192 ? train.x : tf.slice(train.x, [0, 0], [n, 64]);
  const y = n === 8192 ? train.y : tf.slice(train.y, [0, 0], [n, 10]);
  const first = (await model.evaluate(x, y, { batchSize: 1024 })) as tf.Scalar;
  const initialLoss = first.dataSync()[0]!;
  first.dispose();
  const h = await model.fit(x, y, { batchSize: 128, epochs, verbose: 0 });
  const losses = h.history.loss as number[];
  const acc = accuracy(model, test.x, test.labels);
  if (x !== train.x) tf.dispose([x, y]);
  opt.dispose();
  model.dispose();
  const leaked = tf.memory().numTensors - start;
  tf.dispose(theta as tf.TensorContainer);
  return { initialLoss, losses, acc, leaked };
}

// Every learned optimizer of @lopt/learned, with its initial theta, drives model.fit.
const all: [string, () => LearnedOptimizer<unknown>][] = [
  ['LearnableSGD', () => new LearnableSGD(0.1)],
  ['LearnableSGDM', () => new LearnableSGDM()],
  ['LearnableAdam', () => new LearnableAdam()],
  ['MLPLOpt', () => new MLPLOpt()],
  ['AdafacMLPLOpt', () => new AdafacMLPLOpt()],
  ['RNNMLPLOpt (uses the loss)', () => new RNNMLPLOpt()],
  ['NNAdam', () => new NNAdam()],
  ['Celo2', () => new Celo2()],
  ['learnedOptimizerFromOpt(SGD)', () => learnedOptimizerFromOpt(new SGD(0.1))],
  ['SumLearnedOptimizer', () => new SumLearnedOptimizer([new LearnableSGD(0.05), new LearnableAdam()])],
];

describe('learned optimizers through model.fit', () => {
  it.each(all)('%s drives model.fit for 2 epochs without leaks', async (label, make) => {
    const { initialLoss, losses, acc, leaked } = await trainWith(make(), 2);
    console.log(
      `${label}: loss ${initialLoss.toFixed(4)} -> ${losses.map((l) => l.toFixed(4)).join(' -> ')}, test accuracy ${acc.toFixed(3)}`,
    );
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(leaked).toBe(0);
    // An untrained AdafacMLPLOpt takes random-direction steps (its initial theta is not an
    // optimizer yet); every other initial theta is a working optimizer.
    if (!label.startsWith('AdafacMLPLOpt')) expect(losses[1]!).toBeLessThan(initialLoss);
  });

  it.each([
    ['MLPLOpt', () => new MLPLOpt()],
    ['AdafacMLPLOpt', () => new AdafacMLPLOpt()],
    ['RNNMLPLOpt', () => new RNNMLPLOpt()],
  ] as [string, () => LearnedOptimizer<unknown>][])(
    '%s: model.fit follows the hand-driven lopt loop on the same batches',
    async (_label, make) => {
      const lopt = make();
      const theta = lopt.init(random.PRNGKey(1));
      const inner = lopt.optFn(theta);
      const steps = 8;
      const batch = 256;
      const x = tf.slice(train.x, [0, 0], [steps * batch, 64]);
      const y = tf.slice(train.y, [0, 0], [steps * batch, 10]);

      const model = mlp();
      const opt = asTfOptimizer(inner);
      model.compile({ optimizer: opt, loss: 'categoricalCrossentropy' });
      await model.fit(x, y, { batchSize: batch, epochs: 1, verbose: 0, shuffle: false });

      // The loop a lopt user writes by hand: gradients of the same loss, update, repeat.
      const ref = mlp();
      const vars = ref.trainableWeights.map((w) => w.read() as tf.Variable);
      let state = inner.init(ref.getWeights().map((w) => w.clone()));
      for (let i = 0; i < steps; i++) {
        ref.setWeights(inner.getParams(state) as tf.Tensor[]);
        const xb = tf.slice(x, [i * batch, 0], [batch, 64]);
        const yb = tf.slice(y, [i * batch, 0], [batch, 10]);
        const { value, grads } = tf.variableGrads(
          () => tf.mean(tfl.metrics.categoricalCrossentropy(yb, ref.apply(xb) as tf.Tensor)) as tf.Scalar,
          vars,
        );
        const next = inner.update(
          state,
          vars.map((v) => grads[v.name]!),
          { loss: value },
        );
        // The next state may hold some of the old one's tensors as they are.
        const kept = new Set(treeLeaves(next as never));
        for (const t of treeLeaves(state as never)) if (!kept.has(t)) (t as tf.Tensor).dispose();
        treeDispose(grads, value, xb, yb);
        state = next;
      }
      const want = (inner.getParams(state) as tf.Tensor[]).map((t) => t.dataSync() as Float32Array);
      const moved = maxRelativeError(weightsOf(ref), want);
      const err = maxRelativeError(weightsOf(model), want);
      console.log(
        `${_label}: model.fit vs hand-driven loop, max relative error ${err.toExponential(2)} (weights moved ${moved.toExponential(2)})`,
      );
      expect(moved).toBeGreaterThan(0);
      expect(err).toBeLessThanOrEqual(1e-5);
      treeDispose(state, x, y);
      opt.dispose();
      model.dispose();
      ref.dispose();
      tf.dispose(theta as tf.TensorContainer);
    },
  );

  it('LearnableAdam (its initial theta) (initialLr 1e-2) reaches 72% test accuracy on Fashion-MNIST 8x8 in 3 epochs of 8192 images', async () => {
    const { losses, acc } = await trainWith(new LearnableAdam({ initialLr: 1e-2 }), 3, 8192);
    console.log(
      `LearnableAdam accuracy after 3 epochs of 8192 examples: ${acc.toFixed(3)} (losses ${losses.map((l) => l.toFixed(3)).join(', ')})`,
    );
    expect(acc).toBeGreaterThanOrEqual(0.72);
  });

  it('Celo2 with its published theta (default lr 1e-3) trains the model to 66% test accuracy in 3 epochs of 8192 images (69% measured), leak-free', async () => {
    const theta = celo2Theta();
    const start = tf.memory().numTensors;
    const model = mlp();
    const opt = asTfOptimizer(new Celo2().optFn(theta));
    model.compile({ optimizer: opt, loss: 'categoricalCrossentropy' });
    const h = await model.fit(train.x, train.y, { batchSize: 128, epochs: 3, verbose: 0 });
    const losses = h.history.loss as number[];
    const acc = accuracy(model, test.x, test.labels);
    opt.dispose();
    model.dispose();
    expect(tf.memory().numTensors).toBe(start);
    tf.dispose(theta as unknown as tf.TensorContainer);
    console.log(
      `Celo2 (published theta) accuracy after 3 epochs of 8192 examples: ${acc.toFixed(3)} (losses ${losses.map((l) => l.toFixed(3)).join(', ')})`,
    );
    expect(losses[2]!).toBeLessThan(losses[0]!);
    expect(acc).toBeGreaterThanOrEqual(0.66);
  });

  it('AdafacMLPLOpt from a theta file trains exactly as the same theta in memory', async () => {
    const lopt = new AdafacMLPLOpt();
    const theta = lopt.init(random.PRNGKey(5));
    const dir = mkdtempSync(join(tmpdir(), 'lopt-layers-'));
    try {
      const file = join(dir, 'adafac.theta.json');
      await saveTheta(file, theta, lopt);
      const loaded = await loadTheta(file, lopt);
      const run = async (th: typeof theta): Promise<[tfl.LayersModel, Float32Array[]]> => {
        const model = mlp();
        const opt = asTfOptimizer(lopt.optFn(th));
        model.compile({ optimizer: opt, loss: 'categoricalCrossentropy' });
        await model.fit(train.x, train.y, { batchSize: 512, epochs: 1, verbose: 0, shuffle: false });
        opt.dispose();
        return [model, weightsOf(model)];
      };
      const [m1, w1] = await run(theta);
      const [m2, w2] = await run(loaded);
      const [m0] = [mlp()];
      const w0 = weightsOf(m0);
      // It trained (the weights moved) and the two runs agree bit for bit.
      expect(w1.some((w, i) => w.some((v, j) => v !== w0[i]![j]))).toBe(true);
      w2.forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(w1[i]!)));
      for (const m of [m0, m1, m2]) m.dispose();
      treeDispose(loaded);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      treeDispose(theta);
    }
  });

  it('passes the loss model.fit minimizes: RNNMLPLOpt steps through minimize but refuses bare applyGradients', () => {
    const lopt = new RNNMLPLOpt();
    const theta = lopt.init(random.PRNGKey(0));
    const opt = asTfOptimizer(lopt.optFn(theta));
    const w = tf.variable(tf.tensor1d([1, -2, 3]), true, 'rnn_loss_w');
    const loss = () => tf.sum(tf.square(w)) as tf.Scalar;
    const l = opt.minimize(loss, true, [w])!;
    expect(l.dataSync()[0]).toBeCloseTo(14, 5);
    l.dispose();
    expect(opt.iterations).toBe(1);
    const g = tf.variableGrads(loss, [w]);
    expect(() => opt.applyGradients(g.grads)).toThrow(/needs the loss/);
    tf.dispose([g.value, g.grads]);
    opt.dispose();
    w.dispose();
    treeDispose(theta);
  });
});
