import { SGD } from '@lopt/optimizers';
import { type PRNGKey, random, treeDispose } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { esGrad, processDelta } from './es-grad.js';
import {
  GradientEstimator,
  type GradientEstimatorOut,
  type Metrics,
  type WorkerWeights,
} from './gradient-estimator.js';
import { GradientLearner, gradientWorkerCompute, SingleMachineGradientLearner } from './gradient-learner.js';
import { VectorizedLOptTruncatedStep } from './lopt-truncated-step.js';
import { LrWdLOpt, type LrWdTheta, lossesF64, quadFamily } from './test-helpers.js';
import { disposeExcept } from './tree-utils.js';
import type { TruncatedStep } from './truncated-step.js';
import { ConstantTruncationSchedule } from './truncation-schedule.js';

/** An estimator returning a fixed gradient and loss, to test the learner's plumbing. */
class FixedEstimator extends GradientEstimator<LrWdTheta, { calls: number }> {
  readonly truncatedStep = { taskName: () => 'fixed', cfgName: () => 'fixed' } as unknown as TruncatedStep<LrWdTheta>;
  constructor(
    private readonly g: [number, number],
    private readonly loss: number,
  ) {
    super();
  }
  initWorkerState(): { calls: number } {
    return { calls: 0 };
  }
  computeGradientEstimate(
    _ww: WorkerWeights<LrWdTheta>,
    _key: PRNGKey,
    state: { calls: number },
  ): [GradientEstimatorOut<LrWdTheta, { calls: number }>, Metrics] {
    const grad = { lr: tf.scalar(this.g[0]), wd: tf.scalar(this.g[1]) };
    return [{ meanLoss: this.loss, grad, unrollState: { calls: state.calls + 1 } }, { custom: 1 }];
  }
}

describe('gradient learners', () => {
  it('averages estimators, applies the outer optimizer and counts outer iterations', () => {
    const lopt = new LrWdLOpt(0.1, 0.05);
    const learner = new SingleMachineGradientLearner(
      lopt,
      [new FixedEstimator([1, 2], 3), new FixedEstimator([3, -2], 5)],
      new SGD(0.1),
    );
    let state = learner.init(random.PRNGKey(0));
    const start = tf.memory().numTensors;
    const out = learner.update(state, random.PRNGKey(1));
    state = out.state;
    expect(out.loss).toBe(4);
    const th = learner.getMetaParams(state);
    // mean gradient (2, 0); SGD(0.1): lr 0.1 - 0.2, wd unchanged.
    expect(th.lr.dataSync()[0]).toBeCloseTo(-0.1, 6);
    expect(th.wd.dataSync()[0]).toBeCloseTo(0.05, 6);
    expect(out.metrics.thetaGradNorm).toBeCloseTo(2, 6);
    expect(out.metrics['fixed/custom']).toBe(1);
    expect(state.gradientEstimatorStates).toEqual([{ calls: 1 }, { calls: 1 }]);
    const ww = learner.gradientLearner.getStateForWorker(state.gradientLearnerState);
    expect(ww.outerState.outerIteration).toBe(1);
    expect(tf.memory().numTensors).toBe(start);
    disposeExcept(state);
  });

  it('clips NaN losses to 20 and refuses NaN meta-gradients unless told to zero them', () => {
    const lopt = new LrWdLOpt();
    const ww = { theta: lopt.init(), thetaModelState: undefined, outerState: { outerIteration: 0 } };
    const nanLoss = gradientWorkerCompute(
      ww,
      [new FixedEstimator([1, 1], Number.NaN)],
      [{ calls: 0 }],
      random.PRNGKey(0),
    );
    expect(nanLoss.toPut.meanLoss).toBe(20);
    treeDispose(nanLoss.toPut.thetaGrads);
    const bad = new FixedEstimator([Number.NaN, 1], 1);
    expect(() => gradientWorkerCompute(ww, [bad], [{ calls: 0 }], random.PRNGKey(0))).toThrow(
      /meta-gradient of estimator 0 \(FixedEstimator on fixed\) has NaN/,
    );
    const zeroed = gradientWorkerCompute(ww, [bad], [{ calls: 0 }], random.PRNGKey(0), { nanGrad: 'zero' });
    expect(zeroed.toPut.thetaGrads.lr.dataSync()[0]).toBe(0);
    expect(zeroed.toPut.thetaGrads.wd.dataSync()[0]).toBe(1);
    treeDispose(zeroed.toPut.thetaGrads, ww.theta);
    expect(() => gradientWorkerCompute(ww, [bad], [], random.PRNGKey(0))).toThrow(/1 estimators but 0 unroll states/);
    expect(() => new GradientLearner(lopt, new SGD(1)).update({} as never, [])).toThrow(/no gradients/);
  });

  it('ES loss differences: non-finite -> 0, clipped, or replaced by their sign', () => {
    expect(processDelta(Number.NaN, { std: 1 })).toBe(0);
    expect(processDelta(Number.POSITIVE_INFINITY, { std: 1 })).toBe(0);
    expect(processDelta(5, { std: 1, clipLossDiff: 2 })).toBe(2);
    expect(processDelta(-5, { std: 1, clipLossDiff: 2 })).toBe(-2);
    expect(processDelta(-0.3, { std: 1, signDeltaLossScalar: 0.5 })).toBe(-0.5);
    const pos = {
      w: tf.tensor2d([
        [1, 2],
        [3, 4],
      ]),
    };
    // Two problems: deltas 2 and -1 -> coefficients 2/(2 sigma^2)=4, -2; mean of 4*[1,2] - 2*[3,4].
    const [mean, g] = esGrad(pos, [3, 1], [1, 2], { std: 0.5 });
    expect(mean).toBeCloseTo(1.75, 6);
    expect(Array.from(g.w.dataSync())).toEqual([(4 - 6) / 2, (8 - 8) / 2]);
    treeDispose(pos, g);
  });
});

describe('VectorizedLOptTruncatedStep meta-losses', () => {
  it('reports the updated parameters\' loss with metaLossSplit "sameData", and metaLossBatch evaluates without training', () => {
    const lopt = new LrWdLOpt(0.1, 0.05);
    const theta = lopt.init();
    const step = new VectorizedLOptTruncatedStep(quadFamily(), lopt, new ConstantTruncationSchedule(10), 2, {
      metaLossSplit: 'sameData',
    });
    const s0 = step.initStepState(theta, { outerIteration: 0 }, random.PRNGKey(0));
    const data = step.getBatch(1)[0]!;
    const [s1, out] = step.unrollStep(theta, s0, random.PRNGKey(1), data, { outerIteration: 0 });
    const l = lossesF64([
      [0.1, 0.05],
      [0.1, 0.05],
    ]);
    expect(out.loss.dataSync()[0]).toBeCloseTo(l[1]!, 5);
    const ml = step.metaLossBatch(theta, s1, random.PRNGKey(2), step.getOuterBatch(1)[0]!, { outerIteration: 0 });
    expect(Array.from(ml.dataSync()).map((x) => Number(x.toFixed(5)))).toEqual(
      [l[1], l[1]].map((x) => Number(x!.toFixed(5))),
    );
    const noMeta = new VectorizedLOptTruncatedStep(quadFamily(), lopt, new ConstantTruncationSchedule(10), 2, {
      metaLossSplit: 'test',
    });
    expect(() => noMeta.unrollStep(theta, s1, random.PRNGKey(1), { train: data.train }, { outerIteration: 0 })).toThrow(
      /data.meta/,
    );
    disposeExcept([s0, s1, out.loss, ml]);
    treeDispose(theta);
  });
});
