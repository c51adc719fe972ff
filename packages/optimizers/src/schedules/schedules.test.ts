// Schedules against their hand formulas, at the steps where their pieces meet.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import {
  constant,
  cosineDecay,
  exponentialDecay,
  linear,
  linearRampupSqrtDecay,
  piecewiseLinear,
  type Schedule,
  warmupCosineDecay,
} from '../index.js';

function at(s: Schedule, step: number): number {
  return tf.tidy(() => {
    const v = s(tf.scalar(step, 'int32'));
    return typeof v === 'number' ? v : v.dataSync()[0]!;
  });
}

function expectSchedule(s: Schedule, f: (t: number) => number, steps: number[]): void {
  const start = tf.memory().numTensors;
  for (const t of steps) expect(at(s, t)).toBeCloseTo(f(t), 6);
  expect(tf.memory().numTensors).toBe(start);
}

const STEPS = [0, 1, 5, 10, 49, 50, 51, 99, 100, 101, 250, 1000];

describe('schedules match hand formulas', () => {
  test('constant', () => expectSchedule(constant(0.3), () => 0.3, STEPS));

  test('linear', () => {
    expectSchedule(linear(1, 0.1, 100, 50), (t) => 1 + ((0.1 - 1) * Math.min(Math.max(t - 50, 0), 100)) / 100, STEPS);
  });

  test('cosineDecay', () => {
    const f = (t: number) => {
      const c = (1 + Math.cos((Math.PI * Math.min(t, 100)) / 100)) / 2;
      return 0.5 * ((1 - 0.1) * c + 0.1);
    };
    expectSchedule(cosineDecay(0.5, 100, 0.1), f, STEPS);
    expectSchedule(
      cosineDecay(0.5, 100, 0, 2),
      (t) => 0.5 * ((1 + Math.cos((Math.PI * Math.min(t, 100)) / 100)) / 2) ** 2,
      STEPS,
    );
  });

  test('warmupCosineDecay', () => {
    const f = (t: number) => {
      if (t < 10) return 0 + (1 - 0) * (t / 10);
      const s = Math.min(Math.max(t - 10, 0), 90);
      return 0.01 + (1 - 0.01) * ((1 + Math.cos((Math.PI * s) / 90)) / 2);
    };
    expectSchedule(warmupCosineDecay(0, 1, 10, 100, 0.01), f, [...STEPS, 9, 11]);
  });

  test('exponentialDecay, smooth and staircase, with a floor', () => {
    expectSchedule(exponentialDecay(2, 10, 0.5), (t) => 2 * 0.5 ** (t / 10), STEPS.slice(0, 9));
    expectSchedule(
      exponentialDecay(2, 10, 0.5, { staircase: true, transitionBegin: 5 }),
      (t) => 2 * 0.5 ** Math.floor(Math.max(t - 5, 0) / 10),
      STEPS.slice(0, 9),
    );
    expectSchedule(exponentialDecay(2, 10, 0.5, { endValue: 0.1 }), (t) => Math.max(2 * 0.5 ** (t / 10), 0.1), STEPS);
  });

  test('piecewiseLinear (the reference: constant outside, linear between points)', () => {
    const times = [10, 50, 100];
    const vals = [1, 0.5, 0.2];
    const f = (t: number) => {
      if (t <= 10) return 1;
      if (t >= 100) return 0.2;
      if (t <= 50) return 1 + ((0.5 - 1) * (t - 10)) / 40;
      return 0.5 + ((0.2 - 0.5) * (t - 50)) / 50;
    };
    expectSchedule(piecewiseLinear(times, vals), f, STEPS);
  });

  test('linearRampupSqrtDecay (the reference)', () => {
    const f = (t: number) => {
      const s = Math.max(t, 1);
      return 1e-3 * Math.min(s / 100, Math.sqrt(100 / s));
    };
    expectSchedule(linearRampupSqrtDecay(1e-3, 100), f, STEPS);
  });

  test('bad arguments are refused', () => {
    expect(() => piecewiseLinear([1, 2], [1])).toThrow(/same length/);
    expect(() => piecewiseLinear([2, 1], [1, 2])).toThrow(/increase/);
    expect(() => cosineDecay(1, 0)).toThrow(/decaySteps/);
    expect(() => warmupCosineDecay(0, 1, 10, 5)).toThrow(/exceed/);
    expect(() => exponentialDecay(1, 0, 0.5)).toThrow(/transitionSteps/);
  });
});
