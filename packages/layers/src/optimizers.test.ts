import {
  AdaBelief,
  Adafactor,
  AdaGrad,
  Adam,
  Adamax,
  AdamW,
  chain,
  clipByGlobalNorm,
  cosineDecay,
  Fromage,
  GradientAccumulator,
  GradientClipOptimizer,
  GraftedOptimizer,
  Lamb,
  Lars,
  Lion,
  NAdamW,
  OptaxOptimizer,
  type Optimizer,
  RAdam,
  RMSProp,
  SGD,
  SGDM,
  SM3,
  scaleByAdam,
  scaleByLearningRate,
  WeightDecayWrapper,
  Yogi,
} from '@lopt/optimizers';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asTfOptimizer } from './index.js';
import { type FashionArrays, fashion, mlp } from './test-helpers.js';

let train: FashionArrays;
beforeAll(async () => {
  train = await fashion('train', 2048);
});
afterAll(() => tf.dispose([train.x, train.y]));

// Every optimizer class and wrapper of @lopt/optimizers, at a learning rate that suits
// this MLP, plus a schedule and a hand-built chain.
const all: [string, () => Optimizer][] = [
  ['SGD', () => new SGD(0.1)],
  ['SGDM', () => new SGDM(0.05, 0.9)],
  ['SGDM nesterov', () => new SGDM(0.05, 0.9, { nesterov: true })],
  ['Adam', () => new Adam(3e-3)],
  ['Adam with a cosine schedule', () => new Adam(cosineDecay(3e-3, 64))],
  ['AdamW', () => new AdamW(3e-3)],
  ['NAdamW', () => new NAdamW(3e-3)],
  ['RMSProp', () => new RMSProp(1e-3)],
  ['AdaBelief', () => new AdaBelief(3e-3)],
  ['AdaGrad', () => new AdaGrad(0.05)],
  ['Adafactor', () => new Adafactor(0.01)],
  ['Lamb', () => new Lamb(3e-3)],
  ['Lars', () => new Lars(1)],
  ['RAdam', () => new RAdam(3e-3)],
  ['Yogi', () => new Yogi(3e-3)],
  ['Fromage', () => new Fromage(0.01)],
  ['SM3', () => new SM3(0.05)],
  ['Lion', () => new Lion(3e-4)],
  ['Adamax', () => new Adamax(3e-3)],
  ['GradientClipOptimizer(Adam)', () => new GradientClipOptimizer(new Adam(3e-3), 1)],
  ['GraftedOptimizer(SGD, Adam)', () => new GraftedOptimizer(new SGD(0.1), new Adam(3e-3))],
  ['WeightDecayWrapper(Adam)', () => new WeightDecayWrapper(new Adam(3e-3), 1e-4)],
  ['GradientAccumulator(Adam, 2)', () => new GradientAccumulator(new Adam(3e-3), 2)],
  [
    'OptaxOptimizer(chain(clip, adam, lr))',
    () => new OptaxOptimizer(chain(clipByGlobalNorm(1), scaleByAdam(), scaleByLearningRate(3e-3))),
  ],
];

describe('every hand-designed optimizer as a tf.Optimizer', () => {
  it.each(all)(
    '%s trains the MLP with model.fit, leak-free; its state moves to another optimizer exactly',
    async (label, make) => {
      const start = tf.memory().numTensors;
      const model = mlp();
      const inner = make();
      const opt = asTfOptimizer(inner);
      model.compile({ optimizer: opt, loss: 'categoricalCrossentropy' });
      const first = (await model.evaluate(train.x, train.y, { batchSize: 1024 })) as tf.Scalar;
      const initialLoss = first.dataSync()[0]!;
      first.dispose();
      const h = await model.fit(train.x, train.y, { batchSize: 128, epochs: 2, verbose: 0 });
      const losses = h.history.loss as number[];
      expect(losses[1]!, `${label}: ${initialLoss} -> ${losses.join(' -> ')}`).toBeLessThan(initialLoss);
      expect(opt.iterations).toBe(32);
      // The saved state restored into a second optimizer of the same kind takes the same next step.
      const twin = mlp();
      twin.setWeights(model.getWeights());
      const copy = asTfOptimizer(make());
      twin.compile({ optimizer: copy, loss: 'categoricalCrossentropy' });
      await copy.setWeights(await opt.getWeights());
      expect(copy.iterations).toBe(32);
      const x = tf.slice(train.x, [0, 0], [256, 64]);
      const y = tf.slice(train.y, [0, 0], [256, 10]);
      await model.fit(x, y, { batchSize: 128, epochs: 1, verbose: 0, shuffle: false });
      await twin.fit(x, y, { batchSize: 128, epochs: 1, verbose: 0, shuffle: false });
      const want = model.getWeights().map((w) => Array.from(w.dataSync()));
      twin.getWeights().forEach((w, i) => expect(Array.from(w.dataSync())).toEqual(want[i]));
      tf.dispose([x, y]);
      opt.dispose();
      copy.dispose();
      model.dispose();
      twin.dispose();
      expect(tf.memory().numTensors).toBe(start);
    },
  );
});
