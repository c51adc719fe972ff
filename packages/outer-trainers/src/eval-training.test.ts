import { Adam, SGD } from '@lopt/optimizers';
import { random, tidy, valueAndGrad } from '@lopt/pytree';
import { imageMlp, type Task } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { trainingCurves } from './eval-training.js';
import { disposeExcept } from './tree-utils.js';

const DATA = { cacheRoot: process.env.LOPT_DATA_DIR!, download: false, batchSize: 32 } as const;
let task: Task;
beforeAll(async () => {
  task = await imageMlp.ImageMLP_FashionMnist8_Relu32(DATA);
});

// The loop trainingCurves documents, written out by hand: same keys, same batches.
function handRun(
  t: Task,
  lr: number,
  numSteps: number,
  evalEvery: number,
  evalBatches: number,
  lastEvalBatches: number,
) {
  const opt = new Adam(lr);
  const [initKey, loopKey] = random.split(random.PRNGKey(3));
  let k = loopKey!;
  let state = opt.init(t.init(initKey!), { numSteps });
  const ds = t.datasets!;
  const train: number[] = [];
  const evals: Record<string, number[]> = { train: [], test: [] };
  const norms: Record<string, number[]> = { train: [], test: [] };
  const evaluate = (batches: number) => {
    const [next, ek] = random.split(k);
    k = next!;
    ['train', 'test'].forEach((s, j) => {
      let tot = 0;
      let totN = 0;
      for (let b = 0; b < batches; b++) {
        tf.tidy(() => {
          const l = t.loss(
            state.params,
            random.foldIn(random.foldIn(ek!, j), b),
            ds[s as 'train' | 'test'].next().value,
          );
          tot += l.dataSync()[0]!;
          totN += t.normalizer(l).dataSync()[0]!;
        });
      }
      evals[s]!.push(tot / batches);
      norms[s]!.push(totN / batches);
    });
  };
  const vg = valueAndGrad(t.loss);
  for (let i = 0; i < numSteps; i++) {
    if (i % evalEvery === 0) evaluate(evalBatches);
    const [next, lk, uk] = random.split(k, 3);
    k = next!;
    const out = tidy(() => {
      const [l, g] = vg(state.params, lk!, ds.train.next().value);
      return { s: opt.update(state, g, { loss: l, key: uk! }), l };
    });
    disposeExcept(state, out.s);
    state = out.s;
    train.push(out.l.dataSync()[0]!);
    out.l.dispose();
  }
  evaluate(lastEvalBatches);
  disposeExcept(state);
  return { train, evals, norms };
}

describe('trainingCurves', () => {
  test('equals a hand-run loop on Fashion-MNIST, number for number, and frees every tensor', async () => {
    const ds = task.datasets!;
    const before = ds.train.state!();
    const start = tf.memory().numTensors;
    const c = await trainingCurves(task, new Adam(3e-3), {
      numSteps: 25,
      key: random.PRNGKey(3),
      evalEvery: 10,
      evalBatches: 2,
      lastEvalBatches: 3,
    });
    expect(tf.memory().numTensors).toBe(start);
    // The data streams are back where they started: the hand-run loop sees the same batches.
    expect(ds.train.state!()).toEqual(before);
    const hand = handRun(task, 3e-3, 25, 10, 2, 3);
    expect(c.trainXs).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(c.trainLoss).toEqual(hand.train);
    expect(c.evalXs).toEqual([0, 10, 20, 25]);
    expect(c.eval.train!.loss).toEqual(hand.evals.train);
    expect(c.eval.test!.loss).toEqual(hand.evals.test);
    expect(c.eval.test!.normalizedLoss).toEqual(hand.norms.test);
    // It trained: from chance level (ln 10) downwards.
    expect(c.eval.test!.loss[0]).toBeGreaterThan(2.2);
    expect(c.eval.test!.loss.at(-1)!).toBeLessThan(c.eval.test!.loss[0]! - 0.3);
  });

  test('tasks without data evaluate once per evaluation, as the train split; bad options are errors', async () => {
    // 0.5 * sum(p^2) style task with a closed form: gradient descent at lr 0.1 shrinks the loss by 0.81 per step.
    const quad: Task = {
      name: 'Q',
      init: () => tf.tensor1d([1, -2]),
      initWithState: () => [tf.tensor1d([1, -2]), undefined],
      loss: (p) => tf.tidy(() => tf.mul(0.5, tf.sum(tf.square(p as tf.Tensor)))) as tf.Scalar,
      lossWithState: () => {
        throw new Error('unused');
      },
      lossAndAux: () => {
        throw new Error('unused');
      },
      lossWithStateAndAux: () => {
        throw new Error('unused');
      },
      normalizer: (l) => tf.clone(l),
    };
    const c = await trainingCurves(quad, new SGD(0.1), { numSteps: 4, key: random.PRNGKey(0), evalEvery: 2 });
    expect(Object.keys(c.eval)).toEqual(['train']);
    expect(c.evalXs).toEqual([0, 2, 4]);
    const l0 = 2.5;
    c.trainLoss.forEach((l, i) => expect(l).toBeCloseTo(l0 * 0.81 ** i, 5));
    c.eval.train!.loss.forEach((l, i) => expect(l).toBeCloseTo(l0 * 0.81 ** (2 * i), 5));
    await expect(trainingCurves(quad, new SGD(0.1), { numSteps: 0, key: random.PRNGKey(0) })).rejects.toThrow(
      /numSteps must be a positive integer/,
    );
    await expect(
      trainingCurves(task, new SGD(0.1), { numSteps: 1, key: random.PRNGKey(0), splits: ['valid'] }),
    ).rejects.toThrow(/has no data split 'valid'/);
  });
});
