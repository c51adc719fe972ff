/**
 * What the tfjs-layers page runs, in a Web Worker there and in Node in this package's
 * tests: a tfjs-layers model trained by `model.fit` with a learned optimizer. It is also
 * the code the "Learned optimizers in model.fit" tutorial shows.
 */
// #region imports

import { fashionMnistDatasets } from '@lopt/datasets';
import { asTfOptimizer } from '@lopt/layers';
import { Celo2, celo2Theta, LearnableAdam, NNAdam } from '@lopt/learned';
import { random, treeDispose } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
// #endregion imports

/** The optimizers the page offers: Celo2 (pretrained), two learned ones from their initial theta, and tf.train.adam to compare. */
export type LayersDemoOptimizer = 'celo2' | 'learnableAdam' | 'nnAdam' | 'tfAdam';

/** One run of the page. */
export interface LayersDemoConfig {
  optimizer: LayersDemoOptimizer;
  /** Passes over the training images. */
  epochs: number;
  /** Training images used (the first ones of the train split; default 8192). */
  trainSize?: number;
  /** Test images the accuracy is measured on (default 2000). */
  testSize?: number;
  /** Seed of the model's initial weights and of the learned optimizer's theta. */
  seed?: number;
}

/** What each training step reports. */
export interface LayersDemoStep {
  /** 0-based step over the whole run. */
  step: number;
  epoch: number;
  loss: number;
}

/** What each epoch reports. */
export interface LayersDemoEpoch {
  epoch: number;
  /** Mean training loss of the epoch, as model.fit logs it. */
  loss: number;
  /** Accuracy on the test images after the epoch. */
  accuracy: number;
}

/** Where the run gets its data and how it talks back. */
export interface LayersDemoHooks {
  /** Options of `fashionMnistDatasets` (`baseUrl` in a browser, `dataDir` in Node). */
  datasetOptions?: { baseUrl?: string; dataDir?: string; download?: boolean; verify?: boolean };
  onStep?(step: LayersDemoStep): void;
  onEpoch?(epoch: LayersDemoEpoch): void;
  onStatus?(text: string): void;
  /** Checked after every step; true ends training early (model.stopTraining). */
  shouldStop?(): boolean;
  /** Awaited after every step so messages (Stop) and rendering get a turn. */
  yieldControl?(): Promise<void>;
}

/** Trains the page's model and returns the epochs it completed. */
export async function runLayersDemo(config: LayersDemoConfig, hooks: LayersDemoHooks = {}): Promise<LayersDemoEpoch[]> {
  const { trainSize = 8192, testSize = 2000, seed = 0 } = config;
  hooks.onStatus?.('Loading Fashion-MNIST...');
  // #region data
  // Fashion-MNIST at 8x8 from @lopt/datasets, flattened to [n, 64], labels one-hot.
  const ds = await fashionMnistDatasets({ imageSize: [8, 8], ...hooks.datasetOptions });
  const asTensors = (split: 'train' | 'test', n: number) => {
    const a = ds.arrays(split);
    const count = Math.min(n, a.count);
    const labels = a.labels.slice(0, count);
    const x = tf.tensor2d(a.images.subarray(0, count * 64), [count, 64]);
    const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), 10), 'float32'));
    return { x, y, labels };
  };
  const train = asTensors('train', trainSize);
  const test = asTensors('test', testSize);
  // #endregion data

  // #region model
  // An ordinary tfjs-layers model: nothing in it knows about lopt.
  const model = tfl.sequential({
    layers: [
      tfl.layers.dense({
        inputShape: [64],
        units: 64,
        activation: 'relu',
        kernelInitializer: tfl.initializers.glorotUniform({ seed }),
      }),
      tfl.layers.dense({
        units: 10,
        activation: 'softmax',
        kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }),
      }),
    ],
  });
  // #endregion model

  // #region optimizer
  // A learned optimizer is init(key) -> theta, optFn(theta) -> lopt Optimizer;
  // asTfOptimizer makes that a tf.Optimizer for model.compile. optFn computes the
  // hyperparameters theta defines as tensors the optimizer holds: a scope, ended after
  // training, frees them.
  tf.engine().startScope();
  let theta: unknown;
  let optimizer: tf.Optimizer;
  if (config.optimizer === 'celo2') {
    // Celo2's published theta: a pretrained learned optimizer, no meta-training needed.
    theta = celo2Theta();
    optimizer = asTfOptimizer(new Celo2().optFn(theta as ReturnType<typeof celo2Theta>));
  } else if (config.optimizer === 'learnableAdam') {
    const lopt = new LearnableAdam({ initialLr: 1e-2 });
    theta = lopt.init(random.PRNGKey(seed));
    optimizer = asTfOptimizer(lopt.optFn(theta as ReturnType<typeof lopt.init>));
  } else if (config.optimizer === 'nnAdam') {
    const lopt = new NNAdam();
    theta = lopt.init(random.PRNGKey(seed));
    optimizer = asTfOptimizer(lopt.optFn(theta as ReturnType<typeof lopt.init>));
  } else {
    optimizer = tf.train.adam(1e-2);
  }
  model.compile({ optimizer, loss: 'categoricalCrossentropy' });
  // #endregion optimizer

  // #region fit
  const accuracy = () =>
    tf.tidy(() => {
      const predicted = tf.argMax(model.predict(test.x) as tf.Tensor, -1).dataSync();
      return test.labels.reduce((n, label, i) => n + (predicted[i] === label ? 1 : 0), 0) / test.labels.length;
    });
  const epochs: LayersDemoEpoch[] = [];
  let step = 0;
  let epoch = 0;
  hooks.onStatus?.('Training...');
  await model.fit(train.x, train.y, {
    epochs: config.epochs,
    batchSize: 128,
    verbose: 0,
    yieldEvery: 'never', // the callbacks below yield instead
    callbacks: {
      onEpochBegin: async (e) => {
        epoch = e;
      },
      onBatchEnd: async (_batch, logs) => {
        hooks.onStep?.({ step: step++, epoch, loss: logs!.loss! });
        await hooks.yieldControl?.();
        if (hooks.shouldStop?.()) model.stopTraining = true;
      },
      onEpochEnd: async (e, logs) => {
        const done = { epoch: e, loss: logs!.loss!, accuracy: accuracy() };
        epochs.push(done);
        hooks.onEpoch?.(done);
      },
    },
  });
  // #endregion fit

  // #region cleanup
  // tf.Optimizers passed to compile are the caller's to dispose, as are the theta tensors.
  optimizer.dispose();
  tf.engine().endScope();
  model.dispose();
  treeDispose(theta);
  tf.dispose([train.x, train.y, test.x, test.y]);
  // #endregion cleanup
  return epochs;
}
