import { type LearnedOptimizer, MLPLOpt } from '@lopt/learned';
import { Adam } from '@lopt/optimizers';
import { random, treeDispose, valueAndGrad } from '@lopt/pytree';
import { imageMlp, singleTaskToFamily } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { SingleMachineGradientLearner } from './gradient-learner.js';
import { VectorizedLOptTruncatedStep } from './lopt-truncated-step.js';
import { disposeExcept } from './tree-utils.js';
import { TruncatedPES } from './truncated-pes.js';
import { LogUniformLengthSchedule } from './truncation-schedule.js';

const DATA = { dataDir: `${process.env.LOPT_DATA_DIR}/fashion-mnist`, cacheRoot: null, download: false } as const;

describe('meta-training on real Fashion-MNIST', () => {
  // End to end on real data, minutes on cpu: it runs in the test legs with slow tests on.
  it.skipIf(process.env.LOPT_SLOW_TESTS === 'off')(
    'PES lowers the meta-loss of MLPLOpt on ImageMLP_FashionMnist8_Relu32, without leaking tensors',
    async () => {
      const task = await imageMlp.ImageMLP_FashionMnist8_Relu32(DATA);
      // The meta-loss measured: mean training loss over 50 inner steps from one fixed
      // initialisation on 50 fixed batches, so theta alone decides it.
      const evalBatches = Array.from({ length: 50 }, () => task.datasets!.train.next().value);
      const metaLoss = <T>(lopt: LearnedOptimizer<T>, theta: T): number => {
        let total = 0;
        let st = tf.tidy(() => lopt.optFn(theta).init(task.init(random.PRNGKey(123)), { numSteps: 50 }) as never);
        for (let i = 0; i < 50; i++) {
          const [next, l] = tf.tidy(() => {
            const opt = lopt.optFn(theta);
            const [l, g] = valueAndGrad(task.loss)(opt.getParams(st), random.PRNGKey(i), evalBatches[i]);
            return [opt.update(st, g, { loss: l }), l] as never;
          }) as [never, tf.Scalar];
          total += l.dataSync()[0]!;
          l.dispose();
          disposeExcept(st, next);
          st = next;
        }
        disposeExcept(st);
        return total / 50;
      };

      const lopt = new MLPLOpt();
      const step = new VectorizedLOptTruncatedStep(
        singleTaskToFamily(task),
        lopt,
        new LogUniformLengthSchedule(20, 50),
        4,
        {
          randomInitialIterationOffset: 50,
        },
      );
      const learner = new SingleMachineGradientLearner(
        lopt,
        [new TruncatedPES(step, { truncLength: 10 })],
        new Adam(1e-2),
      );
      let state = learner.init(random.PRNGKey(0));
      const before = metaLoss(lopt, learner.getMetaParams(state));
      state = learner.update(state, random.PRNGKey(1)).state;
      const tensors = tf.memory().numTensors;
      for (let i = 2; i <= 20; i++) {
        const out = learner.update(state, random.PRNGKey(i));
        expect(Number.isFinite(out.loss)).toBe(true);
        state = out.state;
      }
      expect(tf.memory().numTensors).toBe(tensors);
      const after = metaLoss(lopt, learner.getMetaParams(state));
      expect(before).toBeGreaterThan(2.2);
      expect(after).toBeLessThan(before - 0.05);
      disposeExcept(state);
      treeDispose(evalBatches);
    },
  );
});
