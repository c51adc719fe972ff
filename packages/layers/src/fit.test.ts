import { fashionMnistDatasets } from '@lopt/datasets';
import { AdafacMLPLOpt } from '@lopt/learned';
import { Adam, Optimizer, type OptState, SGD } from '@lopt/optimizers';
import { random, treeDispose } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import * as tfd from '@tensorflow/tfjs-data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asTfOptimizer } from './index.js';
import { accuracy, type FashionArrays, fashion, mlp } from './test-helpers.js';

let train: FashionArrays;
let test: FashionArrays;
beforeAll(async () => {
  train = await fashion('train', 2048);
  test = await fashion('test', 1000);
});
afterAll(() => tf.dispose([train.x, train.y, test.x, test.y]));

describe('what model.fit users expect', () => {
  it('fitDataset over a tf.data pipeline of @lopt/datasets batches trains, with callbacks', async () => {
    const ds = await fashionMnistDatasets({ imageSize: [8, 8], batchSize: 64, key: random.PRNGKey(3) });
    const data = tfd.generator(function* () {
      for (let i = 0; i < 32; i++) {
        const { image, label } = ds.train.next().value;
        const xs = tf.reshape(image, [-1, 64]);
        const ys = tf.cast(tf.oneHot(label, 10), 'float32');
        tf.dispose([image, label]);
        yield { xs, ys };
      }
    });
    const model = mlp();
    const opt = asTfOptimizer(new Adam(3e-3));
    model.compile({ optimizer: opt, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const before = accuracy(model, test.x, test.labels);
    const seen = { batches: 0, epochs: 0, losses: [] as number[] };
    const history = await model.fitDataset(data, {
      epochs: 3,
      verbose: 0,
      callbacks: {
        onBatchEnd: async () => {
          seen.batches++;
        },
        onEpochEnd: async (_e, logs) => {
          seen.epochs++;
          seen.losses.push(logs!.loss!);
        },
      },
    });
    const after = accuracy(model, test.x, test.labels);
    expect(seen.batches).toBe(96);
    expect(seen.epochs).toBe(3);
    expect(opt.iterations).toBe(96);
    expect(history.history.loss).toHaveLength(3);
    expect(seen.losses[2]!).toBeLessThan(seen.losses[0]!);
    expect(after).toBeGreaterThan(0.6);
    expect(after).toBeGreaterThan(before + 0.3);
    opt.dispose();
    model.dispose();
  });

  it('keeps tf.memory().numTensors flat across epochs (Adam and a learned optimizer)', async () => {
    const lopt = new AdafacMLPLOpt();
    const theta = lopt.init(random.PRNGKey(0));
    for (const inner of [new Adam(1e-3), lopt.optFn(theta)]) {
      const model = mlp();
      const opt = asTfOptimizer(inner);
      model.compile({ optimizer: opt, loss: 'categoricalCrossentropy' });
      const counts: number[] = [];
      await model.fit(train.x, train.y, {
        batchSize: 128,
        epochs: 4,
        verbose: 0,
        callbacks: { onEpochEnd: async () => void counts.push(tf.memory().numTensors) },
      });
      expect(counts).toHaveLength(4);
      expect(new Set(counts).size, `numTensors per epoch under ${inner.name}: ${counts.join(', ')}`).toBe(1);
      // Disposing the optimizer frees all of its state.
      const withState = tf.memory().numTensors;
      opt.dispose();
      expect(tf.memory().numTensors).toBeLessThan(withState);
      model.dispose();
    }
    treeDispose(theta);
  });

  it('frees everything it made: numTensors returns to its start after dispose', async () => {
    const start = tf.memory().numTensors;
    const model = mlp();
    const opt = asTfOptimizer(new Adam(1e-3));
    model.compile({ optimizer: opt, loss: 'categoricalCrossentropy' });
    const h = await model.fit(train.x, train.y, { batchSize: 256, epochs: 2, verbose: 0 });
    expect(h.history.loss).toHaveLength(2);
    opt.dispose();
    model.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it('swapping the optimizer between fits carries the weights on, and each optimizer keeps its own state', async () => {
    const model = mlp();
    const sgd = asTfOptimizer(new SGD(0.1));
    model.compile({ optimizer: sgd, loss: 'categoricalCrossentropy' });
    const h1 = await model.fit(train.x, train.y, { batchSize: 128, epochs: 2, verbose: 0 });
    const afterSgd = h1.history.loss[1] as number;
    const adam = asTfOptimizer(new Adam(3e-3));
    model.compile({ optimizer: adam, loss: 'categoricalCrossentropy' });
    const h2 = await model.fit(train.x, train.y, { batchSize: 128, epochs: 2, verbose: 0 });
    // Continued from where SGD left off, and improved on it.
    expect(h2.history.loss[0] as number).toBeLessThan(afterSgd * 1.05);
    expect(h2.history.loss[1] as number).toBeLessThan(afterSgd);
    expect(sgd.iterations).toBe(32);
    expect(adam.iterations).toBe(32);
    // Back to SGD: its state (a step count) resumes, it does not restart.
    model.compile({ optimizer: sgd, loss: 'categoricalCrossentropy' });
    await model.fit(train.x, train.y, { batchSize: 128, epochs: 1, verbose: 0 });
    expect(sgd.iterations).toBe(48);
    sgd.dispose();
    adam.dispose();
    model.dispose();
  });

  it('sees model.setWeights between fits (the variables are the state’s params)', async () => {
    const model = mlp();
    const opt = asTfOptimizer(new SGD(0.1));
    model.compile({ optimizer: opt, loss: 'categoricalCrossentropy' });
    await model.fit(train.x, train.y, { batchSize: 128, epochs: 1, verbose: 0 });
    // Reset the weights to fresh ones: one SGD step from them must match a fresh optimizer's step.
    const fresh = mlp(64, 7);
    model.setWeights(fresh.getWeights());
    const x = tf.slice(train.x, [0, 0], [128, 64]);
    const y = tf.slice(train.y, [0, 0], [128, 10]);
    await model.fit(x, y, { batchSize: 128, epochs: 1, verbose: 0, shuffle: false });
    const other = asTfOptimizer(new SGD(0.1));
    fresh.compile({ optimizer: other, loss: 'categoricalCrossentropy' });
    await fresh.fit(x, y, { batchSize: 128, epochs: 1, verbose: 0, shuffle: false });
    const a = model.getWeights().map((w) => Array.from(w.dataSync()));
    const b = fresh.getWeights().map((w) => Array.from(w.dataSync()));
    expect(a).toEqual(b);
    tf.dispose([x, y]);
    opt.dispose();
    other.dispose();
    model.dispose();
    fresh.dispose();
  });
});

describe('ownership of the tensors in a state', () => {
  // An optimizer whose state holds a tensor of its own (`scale`, as theta would be), the
  // last gradient as it was given, and a running sum.
  class Holding extends Optimizer {
    constructor(readonly scale: tf.Scalar) {
      super();
    }
    init<P>(params: P): OptState<P> & { scale: tf.Scalar; lastGrad: P; sum: P } {
      const zeros = (params as tf.Tensor[]).map((p) => tf.zerosLike(p)) as P;
      return {
        params,
        modelState: undefined,
        iteration: tf.scalar(0, 'int32'),
        scale: this.scale,
        lastGrad: zeros,
        sum: (zeros as tf.Tensor[]).map((z) => z.clone()) as P,
      };
    }
    update<P>(state: OptState<P>, grads: P): OptState<P> {
      const s = state as OptState<P> & { sum: P };
      const sum = (s.sum as tf.Tensor[]).map((x, i) => tf.add(x, (grads as tf.Tensor[])[i]!)) as P;
      const params = (s.params as tf.Tensor[]).map((p, i) =>
        tf.sub(p, tf.mul(this.scale, (sum as tf.Tensor[])[i]!)),
      ) as P;
      return {
        params,
        modelState: undefined,
        iteration: tf.add(s.iteration, 1) as tf.Scalar,
        scale: this.scale,
        lastGrad: grads,
        sum,
      } as OptState<P>;
    }
  }

  it('never frees tensors it did not make, keeps gradients it holds alive, and frees what it made', async () => {
    const start = tf.memory().numTensors;
    const scale = tf.scalar(0.01);
    const model = mlp();
    const opt = asTfOptimizer(new Holding(scale));
    model.compile({ optimizer: opt, loss: 'categoricalCrossentropy' });
    const h = await model.fit(train.x, train.y, { batchSize: 256, epochs: 2, verbose: 0 });
    expect((h.history.loss as number[]).every(Number.isFinite)).toBe(true);
    // The held gradient survived minimize freeing the gradients, and was saved.
    const w = await opt.getWeights();
    const lastGrad = w.find((x) => x.name.endsWith('.lastGrad[0]'))!;
    expect(lastGrad.tensor.isDisposed).toBe(false);
    expect(Math.max(...Array.from(lastGrad.tensor.dataSync()).map(Math.abs))).toBeGreaterThan(0);
    opt.dispose();
    model.dispose();
    // The caller's tensor is still there, and nothing else is.
    expect(scale.isDisposed).toBe(false);
    expect(scale.dataSync()[0]).toBeCloseTo(0.01, 8);
    scale.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });
});
