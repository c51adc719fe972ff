import { Celo2, type Celo2Theta, celo2Theta } from '@lopt/learned';
import { Adam } from '@lopt/optimizers';
import { random, treeDispose, treeLeaves, valueAndGrad } from '@lopt/pytree';
import { ImageMLPTask, imageMlp, singleTaskToFamily } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { SingleMachineGradientLearner } from './gradient-learner.js';
import { VectorizedLOptTruncatedStep } from './lopt-truncated-step.js';
import { disposeExcept } from './tree-utils.js';
import { TruncatedPES } from './truncated-pes.js';
import { LogUniformLengthSchedule } from './truncation-schedule.js';

const DATA = { dataDir: `${process.env.LOPT_DATA_DIR}/fashion-mnist`, cacheRoot: null, download: false } as const;

describe('PES on Celo2', () => {
  it('meta-trains Celo2 from its published theta on real Fashion-MNIST without leaking tensors', async () => {
    const base = await imageMlp.ImageMLP_FashionMnist8_Relu32(DATA);
    // Two hidden layers: the middle 32x32 matrix takes Celo2's learned rule by default.
    const task = new ImageMLPTask(base.datasets!, { hiddenSizes: [32, 32], name: 'ImageMLP_FashionMnist8_Relu32x32' });
    const lopt = new Celo2({ learningRate: 1e-2 });
    const evalBatches = Array.from({ length: 20 }, () => task.datasets!.train.next().value);
    // The meta-loss: mean training loss over 20 inner steps from one initialisation on 20 fixed batches.
    const metaLoss = (theta: Celo2Theta): number => {
      const opt = lopt.optFn(theta);
      let st = tf.tidy(() => opt.init(task.init(random.PRNGKey(5))) as never);
      let total = 0;
      for (const b of evalBatches) {
        const [next, l] = tf.tidy(() => {
          const [l, g] = valueAndGrad(task.loss)(opt.getParams(st), random.PRNGKey(0), b);
          return [opt.update(st, g, { loss: l }), l] as never;
        }) as [never, tf.Scalar];
        total += l.dataSync()[0]!;
        l.dispose();
        disposeExcept(st, next);
        st = next;
      }
      disposeExcept(st);
      return total / evalBatches.length;
    };

    const step = new VectorizedLOptTruncatedStep(
      singleTaskToFamily(task),
      lopt,
      new LogUniformLengthSchedule(10, 20),
      2,
      {
        randomInitialIterationOffset: 20,
      },
    );
    // Meta-training starts from the published theta rather than a random draw.
    const published = { init: () => celo2Theta() };
    const learner = new SingleMachineGradientLearner(
      published,
      [new TruncatedPES(step, { truncLength: 5, stepsPerJit: 5, std: 0.01 })],
      new Adam(3e-3),
    );
    let state = learner.init(random.PRNGKey(0));
    const before = metaLoss(learner.getMetaParams(state));
    const theta0 = treeLeaves(learner.getMetaParams(state) as never as tf.Tensor[]).map((t) =>
      Array.from(t.dataSync()),
    );
    state = learner.update(state, random.PRNGKey(1)).state;
    const tensors = tf.memory().numTensors;
    const losses: number[] = [];
    for (let i = 2; i <= 8; i++) {
      const out = learner.update(state, random.PRNGKey(i));
      losses.push(out.loss);
      state = out.state;
    }
    expect(tf.memory().numTensors).toBe(tensors);
    expect(losses.every(Number.isFinite)).toBe(true);
    const theta1 = treeLeaves(learner.getMetaParams(state) as never as tf.Tensor[]).map((t) =>
      Array.from(t.dataSync()),
    );
    const moved = theta1.some((leaf, i) => leaf.some((v, j) => Math.abs(v - theta0[i]![j]!) > 1e-5));
    expect(moved).toBe(true);
    const after = metaLoss(learner.getMetaParams(state));
    expect(Number.isFinite(after)).toBe(true);
    console.log(`Celo2 under PES: meta-loss ${before.toFixed(4)} -> ${after.toFixed(4)} after 8 outer steps`);
    disposeExcept(state);
    treeDispose(evalBatches);
  });
});
