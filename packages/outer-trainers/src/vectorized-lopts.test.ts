// The learned optimizers of @lopt/learned that batch `vectorizedOptFn` update the K
// problems of a truncated step in one call. Estimates through that path must equal
// those of the per-problem default: ES estimates (one theta per problem) and truncated
// backpropagation (meta-gradients through the vectorized update, one theta for all).
import { AdafacMLPLOpt, LearnableAdam, LearnedOptimizer, MLPLOpt } from '@lopt/learned';
import { random, treeDispose, treeFlatten } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { GradientEstimator } from './gradient-estimator.js';
import { VectorizedLOptTruncatedStep } from './lopt-truncated-step.js';
import { quadFamily } from './test-helpers.js';
import { disposeExcept } from './tree-utils.js';
import { TruncatedGrad } from './truncated-grad.js';
import { TruncatedPES } from './truncated-pes.js';
import { ConstantTruncationSchedule } from './truncation-schedule.js';

type AnyLOpt = LearnedOptimizer<unknown>;
const outerState = { outerIteration: 0 };
const K = 3;

/** `lopt` counting its (batched) vectorized calls, and the same optimizer with the per-problem default. */
function pair(make: () => AnyLOpt): { vec: AnyLOpt; plain: AnyLOpt; calls: () => number } {
  const vec = make();
  let n = 0;
  const batched = vec.vectorizedOptFn;
  vec.vectorizedOptFn = (thetas, isTraining) => {
    n += 1;
    return batched.call(vec, thetas, isTraining);
  };
  const plain = make();
  plain.vectorizedOptFn = LearnedOptimizer.prototype.vectorizedOptFn;
  return { vec, plain, calls: () => n };
}

/** Two estimates in a row (the second from the first's state) as flat numbers, and the losses. */
function run(make: (lopt: AnyLOpt) => GradientEstimator<unknown, unknown>, lopt: AnyLOpt): number[][] {
  const est = make(lopt);
  const theta = lopt.init(random.PRNGKey(3));
  const ww = { theta, thetaModelState: undefined, outerState };
  const s0 = est.initWorkerState(ww, random.PRNGKey(0));
  const [o1] = est.computeGradientEstimate(ww, random.PRNGKey(1), s0);
  const [o2] = est.computeGradientEstimate(ww, random.PRNGKey(2), o1.unrollState);
  const flat = (g: unknown) => (treeFlatten(g as never)[0] as tf.Tensor[]).flatMap((l) => Array.from(l.dataSync()));
  const out = [flat(o1.grad), flat(o2.grad), [o1.meanLoss, o2.meanLoss]];
  disposeExcept(s0, o1.unrollState);
  disposeExcept(o1, o2.unrollState);
  disposeExcept(o2);
  treeDispose(theta);
  return out;
}

const lopts: [string, () => AnyLOpt][] = [
  ['LearnableAdam', () => new LearnableAdam({ initialLr: 0.05 }) as AnyLOpt],
  ['MLPLOpt', () => new MLPLOpt({ stepMult: 0.05 }) as AnyLOpt],
  ['AdafacMLPLOpt', () => new AdafacMLPLOpt({ stepMult: 0.05 }) as AnyLOpt],
];
const estimators: [string, (lopt: AnyLOpt) => GradientEstimator<unknown, unknown>][] = [
  [
    'TruncatedPES',
    (lopt) =>
      new TruncatedPES(
        new VectorizedLOptTruncatedStep(quadFamily({ vary: true }), lopt, new ConstantTruncationSchedule(5), K, {
          randomInitialIterationOffset: 5,
        }),
        { truncLength: 2, stepsPerJit: 2, std: 0.01 },
      ) as GradientEstimator<unknown, unknown>,
  ],
  [
    'TruncatedGrad',
    (lopt) =>
      new TruncatedGrad(
        new VectorizedLOptTruncatedStep(quadFamily({ vary: true }), lopt, new ConstantTruncationSchedule(5), K, {
          randomInitialIterationOffset: 5,
        }),
        { unrollLength: 2, stepsPerJit: 2 },
      ) as GradientEstimator<unknown, unknown>,
  ],
];

describe.each(lopts)('%s with vectorizedOptFn', (_name, make) => {
  it.each(estimators)('gives the %s estimates of per-problem updates', (_est, makeEst) => {
    const { vec, plain, calls } = pair(make);
    // The comparison is between the batched override and the default.
    expect(Object.getPrototypeOf(vec).vectorizedOptFn).not.toBe(LearnedOptimizer.prototype.vectorizedOptFn);
    const start = tf.memory().numTensors;
    const a = run(makeEst, plain);
    const b = run(makeEst, vec);
    expect(tf.memory().numTensors).toBe(start);
    expect(calls()).toBeGreaterThan(0);
    const scale = Math.max(...a[0]!.map(Math.abs), ...a[1]!.map(Math.abs));
    expect(scale).toBeGreaterThan(0);
    a.forEach((xs, i) => {
      expect(b[i]!.length).toBe(xs.length);
      xs.forEach((x, j) => {
        expect(Number.isFinite(b[i]![j]!)).toBe(true);
        // ES divides loss differences by 2 std^2: float32 noise of the losses is
        // amplified, so the comparison is against the estimate's overall scale.
        const tol = i < 2 ? 1e-3 * scale : 1e-5 * Math.abs(x);
        expect(Math.abs(b[i]![j]! - x), `output ${i} entry ${j}`).toBeLessThanOrEqual(tol + 1e-7);
      });
    });
  });
});
