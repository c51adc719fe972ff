// Language-model tasks on the real Jargon File: meta-gradients through short unrolls of
// every model (second derivatives of tanh, sigmoid, softmax and LayerNorm inside the
// unroll) match finite differences, and Adam trains every fixed task from about ln(256)
// to a stated loss.

import { Adam } from '@lopt/optimizers';
import { type PRNGKey, random, tidy, treeDispose, valueAndGrad } from '@lopt/pytree';
import { getTask, loadTextTaskDatasets, RNNLMTask, type Task, TransformerLMTask } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { LearnableAdam } from './learnable-hparams.js';
import type { LearnedOptimizer } from './learned-optimizer.js';
import { MLPLOpt } from './mlp-lopt.js';
import { jitter, metaGradError, unrolledLoss } from './test-tasks.js';

type TextBatch = Parameters<RNNLMTask['loss']>[2];
let text: Awaited<ReturnType<typeof loadTextTaskDatasets>>;
beforeAll(async () => {
  text = await loadTextTaskDatasets(
    'test',
    { cacheRoot: null, key: random.PRNGKey(11) },
    { batchSize: 2, sequenceLength: 6 },
  );
});

type AnyTask = Task<unknown, TextBatch, undefined>;
const models: [string, () => AnyTask][] = [
  [
    'VanillaRNN',
    () => new RNNLMTask(text, { name: 'rnn', cell: 'VanillaRNN', hiddenSize: 6, embedSize: 4 }) as AnyTask,
  ],
  ['GRU', () => new RNNLMTask(text, { name: 'gru', cell: 'GRU', hiddenSize: 6, embedSize: 4 }) as AnyTask],
  ['LSTM', () => new RNNLMTask(text, { name: 'lstm', cell: 'LSTM', hiddenSize: 6, embedSize: 4 }) as AnyTask],
  [
    'Transformer',
    () =>
      new TransformerLMTask(text, {
        name: 'transformer',
        numLayers: 2,
        dModel: 8,
        numHeads: 2,
        maxPositions: 6,
      }) as AnyTask,
  ],
];

describe.each(models)('meta-gradients through a 3-step unroll of the %s language model', (_name, make) => {
  it.each([
    ['LearnableAdam', () => new LearnableAdam({ initialLr: 3e-2 }) as LearnedOptimizer<unknown>, 0.1],
    ['MLPLOpt', () => new MLPLOpt({ stepMult: 0.1 }) as LearnedOptimizer<unknown>, 3e-4],
  ] as const)('%s: matches central finite differences, leaking nothing', (_lopt, makeLopt, h) => {
    const task = make();
    const lopt = makeLopt();
    const init = lopt.init(random.PRNGKey(1));
    const theta = jitter(init, random.PRNGKey(9));
    const batch = text.train.next().value;
    const f = unrolledLoss(lopt, task, 3);
    const key = random.PRNGKey(3);
    const before = tf.memory().numTensors;
    const { maxRelErr, gradNorm, finite } = metaGradError((t) => f(t, key, batch), theta, { h });
    expect(tf.memory().numTensors).toBe(before);
    expect(finite).toBe(true);
    expect(gradNorm).toBeGreaterThan(1e-4);
    expect(maxRelErr).toBeLessThan(2e-3);
    treeDispose(init, theta, batch);
  });
});

// Adam (lr 1e-2) on each fixed task with its own architecture and sequence length; the
// batch is cut to 16 windows to keep the test short. Each must go from about ln(256) =
// 5.55 nats per byte to below 3.0 (mean training loss of steps 51-60) and below 3.0 on a
// held-out test batch after 60 steps; a unigram model of the corpus scores 3.33.
const FIXED = [
  'RNNLM_JargonByte_Patch32_VanillaRNN64_Embed32',
  'RNNLM_JargonByte_Patch32_GRU64_Embed32',
  'RNNLM_JargonByte_Patch32_LSTM64_Embed32',
  'TransformerLM_JargonByte_Patch32_2layer_64width',
];

// The larger LSTM (128 units, 64-wide embeddings) too. These runs are slow tests (the wasm
// leg; about 7 minutes on cpu): the meta-gradient checks above hold every model's forward
// and backward pass to finite differences on every backend. See the README's backend matrix.
const LARGE = ['RNNLM_JargonByte_Patch32_LSTM128_Embed64'];
const slowOff = process.env.LOPT_SLOW_TESTS === 'off';

describe.skipIf(slowOff)('Adam trains every fixed language-model task on the real corpus', () => {
  it.each([...FIXED, ...LARGE])(
    '%s: from ln(256) to below 3.0 nats per byte in 60 steps',
    async (name) => {
      const task = (await getTask(name, { cacheRoot: null, batchSize: 16, key: random.PRNGKey(0) })) as AnyTask;
      const opt = new Adam(1e-2);
      const start = tf.memory().numTensors;
      let state = opt.init(task.init(random.PRNGKey(0)), { numSteps: 60 });
      const gradFn = valueAndGrad((p: unknown, k: PRNGKey, b: TextBatch) => task.loss(p, k, b));
      const losses: number[] = [];
      for (let i = 0; i < 60; i++) {
        const out = tidy(() => {
          const batch = task.datasets!.train.next().value as unknown as TextBatch;
          const [l, g] = gradFn(opt.getParams(state), random.PRNGKey(i), batch);
          return { next: opt.update(state, g, { loss: l as tf.Scalar }), l };
        });
        treeDispose(state);
        state = out.next;
        losses.push(out.l.dataSync()[0]!);
        out.l.dispose();
      }
      const testLoss = tf.tidy(() => {
        const batch = task.datasets!.test.next().value as unknown as TextBatch;
        return task.loss(opt.getParams(state), random.PRNGKey(0), batch).dataSync()[0]!;
      });
      const last = losses.slice(50).reduce((a, b) => a + b, 0) / 10;
      console.log(
        `${name}: step 1 ${losses[0]!.toFixed(3)}, steps 51-60 mean ${last.toFixed(3)}, test ${testLoss.toFixed(3)}`,
      );
      expect(Math.abs(losses[0]! - Math.log(256))).toBeLessThan(0.8);
      expect(last).toBeLessThan(3.0);
      expect(testLoss).toBeLessThan(3.0);
      treeDispose(state);
      expect(tf.memory().numTensors).toBe(start);
    },
    300_000,
  );
});
