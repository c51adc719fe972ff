import { random, treeDispose } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { FullES } from './full-es.js';
import { FullGrad } from './full-grad.js';
import type { GradientEstimator, WorkerWeights } from './gradient-estimator.js';
import { VectorizedLOptTruncatedStep } from './lopt-truncated-step.js';
import { gaussianExpectation, LrWdLOpt, type LrWdTheta, lossesF64, numericGrad, quadFamily } from './test-helpers.js';
import { disposeExcept } from './tree-utils.js';
import { TruncatedES } from './truncated-es.js';
import { TruncatedGrad } from './truncated-grad.js';
import { TruncatedPES } from './truncated-pes.js';
import { ConstantTruncationSchedule, NeverEndingTruncationSchedule } from './truncation-schedule.js';

const LR = 0.1;
const WD = 0.05;
const THETA = [LR, WD];
const SIGMA = 0.1;
const outerState = { outerIteration: 0 };

/** Mean loss over steps [from, to) of a run whose step t uses thetas[t]. */
function segmentLoss(thetas: number[][], from: number, to: number): number {
  const l = lossesF64(thetas.map((t) => [t[0]!, t[1]!] as [number, number]));
  return l.slice(from, to).reduce((a, b) => a + b, 0) / (to - from);
}

function gradOf(g: LrWdTheta): number[] {
  return [g.lr.dataSync()[0]!, g.wd.dataSync()[0]!];
}

function weights(lopt: LrWdLOpt): WorkerWeights<LrWdTheta> {
  return { theta: lopt.init(), thetaModelState: undefined, outerState };
}

/**
 * Runs `n` independent replicate estimates and returns their mean and sample standard
 * deviation, per theta component.
 */
function replicate(n: number, one: (r: number) => number[]): { mean: number[]; sd: number[] } {
  const samples = Array.from({ length: n }, (_, r) => one(r));
  const mean = [0, 1].map((j) => samples.reduce((a, s) => a + s[j]!, 0) / n);
  const sd = [0, 1].map((j) => Math.sqrt(samples.reduce((a, s) => a + (s[j]! - mean[j]!) ** 2, 0) / (n - 1)));
  return { mean, sd };
}

/**
 * Tolerance for a Monte-Carlo mean of `n` iid estimates whose expectation is `target`:
 * by the CLT the mean is within 4.5 standard errors (sd / sqrt(n)) of its expectation
 * except with probability < 1e-5; float32 rounding of losses (relative ~1e-7 of L, divided
 * by 2 sigma^2 in the ES weight) adds far less than 1e-3 of the target, allowed for.
 * The test also demands that this tolerance is tight enough to catch a factor-of-2 error.
 */
function expectUnbiased(est: { mean: number[]; sd: number[] }, target: number[], n: number): void {
  for (let j = 0; j < target.length; j++) {
    const tol = (4.5 * est.sd[j]!) / Math.sqrt(n) + 1e-3 * Math.abs(target[j]!);
    expect(tol).toBeLessThan(0.5 * Math.abs(target[j]!));
    expect(Math.abs(est.mean[j]! - target[j]!)).toBeLessThan(tol);
  }
}

describe('ES-family estimators are unbiased for the Gaussian-smoothed objective', () => {
  const T = 4;
  // f(theta) = mean loss over T steps from the fixed initialisation.
  const f = (th: number[]) => segmentLoss(new Array(T).fill(th), 0, T);
  // grad f_sigma(theta) = E[grad f(theta + eps)], eps ~ N(0, sigma^2 I) (Stein's lemma); f is a
  // polynomial of degree 2(T-1) in theta, so a 6-point Gauss-Hermite rule per axis is exact.
  const smoothed = [0, 1].map((j) =>
    gaussianExpectation(2, SIGMA, (e) => numericGrad(f, [LR + e[0]!, WD + e[1]!])[j]!),
  );

  it('FullES', () => {
    const start = tf.memory().numTensors;
    const lopt = new LrWdLOpt(LR, WD);
    const step = new VectorizedLOptTruncatedStep(quadFamily(), lopt, new NeverEndingTruncationSchedule(), 16);
    const est = new FullES(step, new ConstantTruncationSchedule(T), { std: SIGMA, stepsPerJit: T });
    const ww = weights(lopt);
    const n = 30;
    const res = replicate(n, (r) => {
      const [out] = est.computeGradientEstimate(ww, random.PRNGKey(100 + r), est.initWorkerState());
      const g = gradOf(out.grad);
      treeDispose(out.grad);
      return g;
    });
    expectUnbiased(res, smoothed, n);
    treeDispose(ww.theta);
    expect(tf.memory().numTensors).toBe(start);
  });

  it('TruncatedES from fresh inner states', () => {
    const start = tf.memory().numTensors;
    const lopt = new LrWdLOpt(LR, WD);
    const step = new VectorizedLOptTruncatedStep(quadFamily(), lopt, new ConstantTruncationSchedule(100), 16);
    const est = new TruncatedES(step, { unrollLength: T, stepsPerJit: 2, std: SIGMA });
    const ww = weights(lopt);
    const n = 30;
    const res = replicate(n, (r) => {
      const s0 = est.initWorkerState(ww, random.PRNGKey(r));
      const [out] = est.computeGradientEstimate(ww, random.PRNGKey(200 + r), s0);
      expect(step.innerSteps(out.unrollState as never)).toEqual(new Array(16).fill(T));
      const g = gradOf(out.grad);
      disposeExcept(s0, out.unrollState);
      disposeExcept(out);
      return g;
    });
    expectUnbiased(res, smoothed, n);
    treeDispose(ww.theta);
    expect(tf.memory().numTensors).toBe(start);
  });

  it('TruncatedPES across two truncations, with the accumulated perturbation', () => {
    const start = tf.memory().numTensors;
    const L = 3;
    // The second estimate's losses are those of steps L..2L-1; steps 0..L-1 ran with
    // theta + eps1, steps L..2L-1 with theta + eps2. PES targets
    // d/dtheta E[L2(theta + eps1, theta + eps2)] = E[(d1 + d2) L2] (Stein's lemma in 4-D).
    const L2 = (t1: number[], t2: number[]) => segmentLoss([t1, t1, t1, t2, t2, t2], L, 2 * L);
    const target = [0, 1].map((j) =>
      gaussianExpectation(4, SIGMA, (e) => {
        const t1 = [LR + e[0]!, WD + e[1]!];
        const t2 = [LR + e[2]!, WD + e[3]!];
        return numericGrad((th) => L2(th, t2), t1)[j]! + numericGrad((th) => L2(t1, th), t2)[j]!;
      }),
    );
    const lopt = new LrWdLOpt(LR, WD);
    const step = new VectorizedLOptTruncatedStep(quadFamily(), lopt, new ConstantTruncationSchedule(100), 16);
    const est = new TruncatedPES(step, { truncLength: L, stepsPerJit: L, std: SIGMA });
    const ww = weights(lopt);
    const n = 30;
    const res = replicate(n, (r) => {
      const s0 = est.initWorkerState(ww, random.PRNGKey(r));
      const [o1] = est.computeGradientEstimate(ww, random.PRNGKey(300 + r), s0);
      const [o2] = est.computeGradientEstimate(ww, random.PRNGKey(400 + r), o1.unrollState);
      const g = gradOf(o2.grad);
      disposeExcept(s0, o1.unrollState);
      disposeExcept(o1, o2.unrollState);
      disposeExcept(o2);
      return g;
    });
    expectUnbiased(res, target, n);
    treeDispose(ww.theta);
    expect(tf.memory().numTensors).toBe(start);
  });

  it("TruncatedPES restarts a finished problem's accumulator with the new perturbation", () => {
    const lopt = new LrWdLOpt(LR, WD);
    const step = new VectorizedLOptTruncatedStep(quadFamily(), lopt, new ConstantTruncationSchedule(2), 2);
    const est = new TruncatedPES(step, { truncLength: 3, stepsPerJit: 3, std: SIGMA });
    const ww = weights(lopt);
    const s0 = est.initWorkerState(ww, random.PRNGKey(0));
    const [o1] = est.computeGradientEstimate(ww, random.PRNGKey(1), s0);
    const acc = o1.unrollState.accumulator as LrWdTheta;
    // Both problems ended within the estimate, so the accumulator is this estimate's
    // perturbation: nonzero and of the perturbation's scale.
    const a = Array.from(acc.lr.dataSync());
    expect(a.every((x) => x !== 0 && Math.abs(x) < 5 * SIGMA)).toBe(true);
    expect(() =>
      est.computeGradientEstimate({ ...ww, theta: { lr: tf.scalar(1) } as never }, random.PRNGKey(2), o1.unrollState),
    ).toThrow(/accumulator does not match theta/);
    disposeExcept(s0, o1.unrollState);
    disposeExcept(o1);
    treeDispose(ww.theta);
  });
});

describe('backprop estimators equal the analytic gradient', () => {
  it('TruncatedGrad differentiates each truncation with the inner state held fixed', () => {
    const start = tf.memory().numTensors;
    const lopt = new LrWdLOpt(LR, WD);
    const step = new VectorizedLOptTruncatedStep(quadFamily(), lopt, new ConstantTruncationSchedule(100), 2);
    expect(() => new TruncatedGrad(step, { unrollLength: 5, stepsPerJit: 2 })).toThrow(/multiple of stepsPerJit/);
    const est = new TruncatedGrad(step, { unrollLength: 4, stepsPerJit: 2 });
    const ww = weights(lopt);
    const s0 = est.initWorkerState(ww, random.PRNGKey(0));
    const [o1] = est.computeGradientEstimate(ww, random.PRNGKey(1), s0);
    const [o2] = est.computeGradientEstimate(ww, random.PRNGKey(2), o1.unrollState);
    const g1 = numericGrad((th) => segmentLoss(new Array(4).fill(th), 0, 4), THETA);
    const g2 = numericGrad((th) => segmentLoss([...new Array(4).fill(THETA), ...new Array(4).fill(th)], 4, 8), THETA);
    const e1 = gradOf(o1.grad);
    const e2 = gradOf(o2.grad);
    for (let j = 0; j < 2; j++) {
      expect(Math.abs(e1[j]! - g1[j]!)).toBeLessThan(1e-4 * Math.abs(g1[j]!) + 1e-6);
      expect(Math.abs(e2[j]! - g2[j]!)).toBeLessThan(1e-4 * Math.abs(g2[j]!) + 1e-6);
    }
    expect(o1.meanLoss).toBeCloseTo(segmentLoss(new Array(4).fill(THETA), 0, 4), 5);
    expect(step.innerSteps(o2.unrollState as never)).toEqual([8, 8]);
    disposeExcept(s0, o1.unrollState);
    disposeExcept(o1, o2.unrollState);
    disposeExcept(o2);
    treeDispose(ww.theta);
    expect(tf.memory().numTensors).toBe(start);
  });

  it('FullGrad differentiates a whole unroll from initialisation', () => {
    const start = tf.memory().numTensors;
    const lopt = new LrWdLOpt(LR, WD);
    const bad = new VectorizedLOptTruncatedStep(quadFamily(), lopt, new ConstantTruncationSchedule(5), 2);
    expect(() => new FullGrad(bad, new ConstantTruncationSchedule(5))).toThrow(/NeverEndingTruncationSchedule/);
    expect(() => new FullES(bad, new ConstantTruncationSchedule(5))).toThrow(/NeverEndingTruncationSchedule/);
    const step = new VectorizedLOptTruncatedStep(quadFamily(), lopt, new NeverEndingTruncationSchedule(), 2);
    const est = new FullGrad(step, new ConstantTruncationSchedule(5));
    const ww = weights(lopt);
    for (let r = 0; r < 2; r++) {
      const [o] = est.computeGradientEstimate(ww, random.PRNGKey(r), est.initWorkerState());
      const g = numericGrad((th) => segmentLoss(new Array(5).fill(th), 0, 5), THETA);
      const e = gradOf(o.grad);
      for (let j = 0; j < 2; j++) expect(Math.abs(e[j]! - g[j]!)).toBeLessThan(1e-4 * Math.abs(g[j]!) + 1e-6);
      treeDispose(o.grad);
    }
    treeDispose(ww.theta);
    expect(tf.memory().numTensors).toBe(start);
  });
});

// Keep the type import used.
export type _E = GradientEstimator;
