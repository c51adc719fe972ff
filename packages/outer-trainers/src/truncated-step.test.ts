import { LearnableSGD, unstackTree } from '@lopt/learned';
import type { OptState } from '@lopt/optimizers';
import { random, tidy, treeDispose } from '@lopt/pytree';
import { QuadraticTask, singleTaskToFamily } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { VectorizedLOptTruncatedStep } from './lopt-truncated-step.js';
import { A, LrWdLOpt, lossesF64, quadFamily, VecLrWdLOpt } from './test-helpers.js';
import { disposeExcept } from './tree-utils.js';
import {
  ConstantTruncationSchedule,
  LogUniformLengthSchedule,
  NeverEndingTruncationSchedule,
  ScheduledTruncationSchedule,
} from './truncation-schedule.js';

const outer = { outerIteration: 0 };

describe('truncation schedules', () => {
  it('ConstantTruncationSchedule is done from step totalLength on', () => {
    const s = new ConstantTruncationSchedule(10);
    let st = s.init(random.PRNGKey(0));
    const done: boolean[] = [];
    for (let i = 0; i < 12; i++) {
      const [n, d] = s.nextState(st, i);
      st = n;
      done.push(d);
    }
    expect(done).toEqual([...new Array(10).fill(false), true, true]);
    expect(() => new ConstantTruncationSchedule(0)).toThrow(/length/);
  });

  it('LogUniformLengthSchedule draws lengths log-uniformly in [min, max)', () => {
    const s = new LogUniformLengthSchedule(10, 1000);
    const keys = random.split(random.PRNGKey(1), 400);
    const lengths = keys.map((k) => s.init(k).length);
    expect(Math.min(...lengths)).toBeGreaterThanOrEqual(10);
    expect(Math.max(...lengths)).toBeLessThan(1000);
    // log-uniform: half the mass below the geometric mean 100 (binomial sd 0.025 at n=400).
    const below = lengths.filter((l) => l < 100).length / lengths.length;
    expect(Math.abs(below - 0.5)).toBeLessThan(0.1);
    const [next, done] = s.nextState({ length: 5 }, 5, keys[0]!);
    expect(done).toBe(true);
    expect(next.length).toBe(lengths[0]);
  });

  it('NeverEnding never ends; Scheduled follows the outer iteration', () => {
    const n = new NeverEndingTruncationSchedule();
    expect(n.nextState(n.init(), 1e9)[1]).toBe(false);
    const s = new ScheduledTruncationSchedule((it) => 10 + it);
    expect(s.init(random.PRNGKey(0), { outerIteration: 5 }).length).toBe(15);
    const shifted = new ScheduledTruncationSchedule(() => 50, { std: 5, minLength: 48 });
    const ls = random.split(random.PRNGKey(2), 50).map((k) => shifted.init(k).length);
    expect(Math.min(...ls)).toBeGreaterThanOrEqual(48);
    expect(new Set(ls).size).toBeGreaterThan(3);
  });
});

describe('VectorizedLOptTruncatedStep', () => {
  it('trains K problems, then resets a finished one with loss 0 and mask false', () => {
    const start = tf.memory().numTensors;
    const lopt = new LrWdLOpt(0.1, 0.05);
    const step = new VectorizedLOptTruncatedStep(
      quadFamily({ normScale: 2 }),
      lopt,
      new ConstantTruncationSchedule(3),
      2,
    );
    const theta = lopt.init();
    let state = step.initStepState(theta, outer, random.PRNGKey(0));
    expect(state.innerStep).toEqual([0, 0]);
    const expected = lossesF64([
      [0.1, 0.05],
      [0.1, 0.05],
      [0.1, 0.05],
    ]);
    const seen: { loss: number[]; mask: boolean[]; iter: number[]; done: boolean[] }[] = [];
    for (let i = 0; i < 5; i++) {
      const [next, out] = step.unrollStep(theta, state, random.PRNGKey(10 + i), step.getBatch(1)[0]!, outer);
      seen.push({ loss: Array.from(out.loss.dataSync()), mask: out.mask, iter: out.iteration, done: out.isDone });
      out.loss.dispose();
      disposeExcept(state, next);
      state = next;
    }
    for (let t = 0; t < 3; t++) {
      // The normalizer (x2 here) is applied to every training loss.
      expect(seen[t]!.loss[0]).toBeCloseTo(2 * expected[t]!, 5);
      expect(seen[t]!.loss[1]).toBeCloseTo(2 * expected[t]!, 5);
      expect(seen[t]!.mask).toEqual([true, true]);
    }
    expect(seen[2]!.done).toEqual([true, true]);
    expect(seen[3]!.loss).toEqual([0, 0]);
    expect(seen[3]!.mask).toEqual([false, false]);
    expect(seen[3]!.iter).toEqual([0, 0]);
    // After the reset the problem starts again from its initialisation.
    expect(seen[4]!.loss[0]).toBeCloseTo(2 * expected[0]!, 5);
    disposeExcept(state);
    treeDispose(theta);
    expect(tf.memory().numTensors).toBe(start);
  });

  it('gives each problem its own theta with thetaIsVector, and offsets starting steps', () => {
    const lopt = new LrWdLOpt();
    const step = new VectorizedLOptTruncatedStep(quadFamily(), lopt, new ConstantTruncationSchedule(100), 3, {
      randomInitialIterationOffset: 50,
    });
    const thetas = [0.1, 0.2, 0.3].map((lr) => ({ lr: tf.scalar(lr), wd: tf.scalar(0) }));
    const state = step.initStepState(thetas[0]!, outer, random.PRNGKey(3));
    expect(state.innerStep.some((s) => s > 0)).toBe(true);
    expect(state.innerStep.every((s) => s >= 0 && s < 50)).toBe(true);
    const [s1, o1] = step.unrollStep(thetas, state, random.PRNGKey(4), step.getBatch(1)[0]!, outer, {
      thetaIsVector: true,
    });
    const [s2, o2] = step.unrollStep(thetas, s1, random.PRNGKey(5), step.getBatch(1)[0]!, outer, {
      thetaIsVector: true,
    });
    const l2 = Array.from(o2.loss.dataSync());
    [0.1, 0.2, 0.3].forEach((lr, k) =>
      expect(l2[k]).toBeCloseTo(
        lossesF64([
          [lr, 0],
          [lr, 0],
        ])[1]!,
        5,
      ),
    );
    expect(() =>
      step.unrollStep([thetas[0]!], s2, random.PRNGKey(6), step.getBatch(1)[0]!, outer, { thetaIsVector: true }),
    ).toThrow(/list of 3 thetas/);
    expect(() =>
      step.unrollStep(thetas[0]!, { ...s2, innerStep: [0] }, random.PRNGKey(6), step.getBatch(1)[0]!, outer),
    ).toThrow(/innerStep must hold 3/);
    o1.loss.dispose();
    o2.loss.dispose();
    disposeExcept(state);
    disposeExcept(s1);
    disposeExcept(s2);
    treeDispose(thetas);
    expect(A.length).toBe(2);
  });

  it('runs a shared task batched with the same losses as one at a time', () => {
    const family = singleTaskToFamily(new QuadraticTask());
    const lopt = new LearnableSGD(0.05);
    const theta = lopt.init(random.PRNGKey(0));
    const run = (batching: 'auto' | 'off') => {
      const step = new VectorizedLOptTruncatedStep(family, lopt, new ConstantTruncationSchedule(4), 4, { batching });
      let state = step.initStepState(theta, outer, random.PRNGKey(1));
      const losses: number[][] = [];
      for (let i = 0; i < 6; i++) {
        const [next, out] = step.unrollStep(theta, state, random.PRNGKey(20 + i), step.getBatch(1)[0]!, outer);
        losses.push(Array.from(out.loss.dataSync()));
        out.loss.dispose();
        disposeExcept(state, next);
        state = next;
      }
      disposeExcept(state);
      return losses;
    };
    const start = tf.memory().numTensors;
    const a = run('auto');
    const b = run('off');
    expect(tf.memory().numTensors).toBe(start);
    for (let t = 0; t < a.length; t++) for (let k = 0; k < 4; k++) expect(a[t]![k]).toBeCloseTo(b[t]![k]!, 5);
    expect(a[0]![0]).toBeGreaterThan(a[3]![0]!);
    treeDispose(theta);
  });
});

describe('vectorized learned optimizers', () => {
  it('one vectorizedOptFn call per step gives the same states as K separate updates', () => {
    const run = (lopt: LrWdLOpt) => {
      // Length-3 truncations with random offsets: some steps reset some problems, so the
      // vectorized update also runs over subsets of the problems.
      const step = new VectorizedLOptTruncatedStep(
        quadFamily({ vary: true }),
        lopt,
        new ConstantTruncationSchedule(3),
        4,
        {
          randomInitialIterationOffset: 3,
        },
      );
      const thetas = [0.1, 0.2, 0.3, 0.4].map((lr, k) => ({ lr: tf.scalar(lr), wd: tf.scalar(0.01 * k) }));
      let state = step.initStepState(thetas, outer, random.PRNGKey(0), { thetaIsVector: true });
      const losses: number[][] = [];
      const masks: boolean[][] = [];
      for (let i = 0; i < 7; i++) {
        const [next, out] = step.unrollStep(thetas, state, random.PRNGKey(i), step.getBatch(1)[0]!, outer, {
          thetaIsVector: true,
        });
        losses.push(Array.from(out.loss.dataSync()));
        masks.push(out.mask);
        out.loss.dispose();
        disposeExcept(state, next);
        state = next;
      }
      // K > 1 problems of one task keep their states stacked between steps.
      expect(Array.isArray(state.innerOptState)).toBe(false);
      const inner = tidy(() => unstackTree<OptState>(state.innerOptState, 4));
      const params = inner.map((s) => Array.from((s.params as { p: tf.Tensor }).p.dataSync()));
      const iters = inner.map((s) => s.iteration.dataSync()[0]);
      treeDispose(inner);
      disposeExcept(state);
      treeDispose(thetas);
      return { losses, masks, params, iters };
    };
    const start = tf.memory().numTensors;
    const a = run(new LrWdLOpt());
    const vec = new VecLrWdLOpt();
    const b = run(vec);
    expect(vec.calls).toBeGreaterThanOrEqual(5);
    expect(tf.memory().numTensors).toBe(start);
    expect(a.masks).toEqual(b.masks);
    expect(a.masks.flat().includes(false)).toBe(true);
    expect(b.losses).toEqual(a.losses);
    expect(b.params).toEqual(a.params);
    expect(b.iters).toEqual(a.iters);
  });
});
