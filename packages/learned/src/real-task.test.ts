// Meta-gradients of every learned optimizer through a 4-step unroll on the walkthrough's
// task, real Fashion-MNIST (ReLU MLP on non-negative pixels: its gradients hold exact
// zeros). They must be finite and non-zero.

import { random, treeDispose, treeLeaves, valueAndGrad } from '@lopt/pytree';
import { imageMlp } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdafacMLPLOpt } from './adafac-mlp-lopt.js';
import { Celo2 } from './celo2.js';
import { LearnableAdam, LearnableSGD, LearnableSGDM } from './learnable-hparams.js';
import type { LearnedOptimizer } from './learned-optimizer.js';
import { MLPLOpt } from './mlp-lopt.js';
import { NNAdam } from './nn-adam.js';
import { RNNMLPLOpt } from './rnn-mlp-lopt.js';
import { unrolledLoss } from './test-tasks.js';

type Any = LearnedOptimizer<unknown>;
let task: Awaited<ReturnType<typeof imageMlp.ImageMLP_FashionMnist8_Relu32>>;
let batch: unknown;

beforeAll(async () => {
  task = await imageMlp.ImageMLP_FashionMnist8_Relu32({
    cacheRoot: process.env.LOPT_DATA_DIR!,
    download: false,
  });
  batch = task.datasets!.train.next().value;
});

describe('on ImageMLP_FashionMnist8_Relu32', () => {
  it('the inner gradients hold exact zeros', () => {
    const params = task.init(random.PRNGKey(0));
    const [l, g] = valueAndGrad(task.loss)(params, random.PRNGKey(1), batch as never);
    const zeros = treeLeaves(g as never as tf.Tensor[]).reduce(
      (n, x) => n + x.dataSync().filter((v) => v === 0).length,
      0,
    );
    expect(zeros).toBeGreaterThan(0);
    treeDispose(params, l, g);
  });

  it.each([
    ['LearnableSGD', () => new LearnableSGD() as Any],
    ['LearnableSGDM', () => new LearnableSGDM() as Any],
    ['LearnableAdam', () => new LearnableAdam() as Any],
    ['MLPLOpt', () => new MLPLOpt() as Any],
    ['AdafacMLPLOpt', () => new AdafacMLPLOpt() as Any],
    ['RNNMLPLOpt', () => new RNNMLPLOpt() as Any],
    ['NNAdam', () => new NNAdam() as Any],
    // Both of this task's matrices take the learned rule (by default they are first and last).
    ['Celo2', () => new Celo2({ adamw: (l) => (l.shape.length >= 2 ? false : undefined) }) as Any],
  ])('%s has a finite, non-zero meta-gradient through 4 inner steps', (_name, make) => {
    const lopt = make();
    const theta = lopt.init(random.PRNGKey(0));
    const before = tf.memory().numTensors;
    const [ml, g] = valueAndGrad(unrolledLoss(lopt, task, 4))(theta, random.PRNGKey(2), batch as never);
    const values = treeLeaves(g as never as tf.Tensor[]).flatMap((x) => Array.from(x.dataSync()));
    expect(values.every(Number.isFinite)).toBe(true);
    expect(values.some((v) => v !== 0)).toBe(true);
    expect(Number.isFinite(ml.dataSync()[0])).toBe(true);
    treeDispose(ml, g);
    expect(tf.memory().numTensors).toBe(before);
    treeDispose(theta);
  });
});
