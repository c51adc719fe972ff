import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, test } from 'vitest';
import { grad, valueAndGrad } from './autodiff.js';
import {
  defineOp,
  fastPathCounts,
  fastPathsActive,
  fastPathsEnabled,
  gradientDepth,
  resetFastPathCounts,
  setFastPathsEnabled,
} from './fast-op.js';

const initial = fastPathsEnabled();
afterEach(() => {
  setFastPathsEnabled(initial);
});

// A kernel distinguishable from its reference (it adds 1000), so each test sees which ran.
let calls: string[] = [];
const square = defineOp<[tf.Tensor, boolean?], tf.Tensor>({
  name: 'test.square',
  reference: (x: tf.Tensor, _big = false) => {
    calls.push('reference');
    return tf.square(x);
  },
  kernel: (x: tf.Tensor, big = false) => {
    calls.push('kernel');
    return big ? undefined : tf.add(tf.square(x), 1000);
  },
  applies: (x) => x.dtype === 'float32',
  vjpOrder: 0,
});
const run = (f: () => tf.Tensor) => {
  calls = [];
  resetFastPathCounts();
  const out = f();
  const v = out.dataSync()[0]!;
  out.dispose();
  return { v, calls, count: fastPathCounts()['test.square']! };
};

describe('defineOp', () => {
  test('the kernel runs where it applies and the counters say so', () => {
    setFastPathsEnabled(true);
    const x = tf.scalar(3);
    const r = run(() => square(x));
    if (fastPathsActive()) {
      expect(r).toEqual({ v: 1009, calls: ['kernel'], count: { fast: 1, plain: 0 } });
    } else {
      expect(r).toEqual({ v: 9, calls: ['reference'], count: { fast: 0, plain: 1 } });
    }
    x.dispose();
  });

  test('the reference runs when applies refuses, the kernel declines, or fast paths are off', () => {
    const i = tf.scalar(3, 'int32');
    expect(run(() => square(i))).toMatchObject({ calls: ['reference'], count: { fast: 0, plain: 1 } });
    const x = tf.scalar(2);
    const declined = run(() => square(x, true));
    expect(declined.v).toBe(4);
    expect(declined.count).toEqual({ fast: 0, plain: 1 });
    setFastPathsEnabled(false);
    expect(run(() => square(x))).toEqual({ v: 4, calls: ['reference'], count: { fast: 0, plain: 1 } });
    tf.dispose([i, x]);
  });

  test('a kernel without a VJP never runs under a gradient tape', () => {
    setFastPathsEnabled(true);
    const x = tf.scalar(3);
    calls = [];
    resetFastPathCounts();
    const [v, g] = valueAndGrad((y: tf.Scalar) => {
      expect(gradientDepth()).toBe(1);
      return square(y) as tf.Scalar;
    })(x);
    expect(calls).toEqual(['reference']);
    expect(g.dataSync()[0]).toBe(6);
    expect(v.dataSync()[0]).toBe(9);
    tf.dispose([x, v, g]);
  });

  test('vjpOrder bounds the nesting of gradients the kernel serves', () => {
    setFastPathsEnabled(true);
    // A kernel made of differentiable ops (a VJP of any order), allowed to first order only.
    const cube = defineOp({
      name: 'test.cube',
      reference: (x: tf.Tensor) => tf.pow(x, 3),
      kernel: (x: tf.Tensor) => tf.mul(tf.mul(x, x), x),
      vjpOrder: 1,
    });
    const x = tf.scalar(2);
    resetFastPathCounts();
    const g1 = grad((y: tf.Scalar) => cube(y) as tf.Scalar)(x);
    const first = fastPathCounts()['test.cube']!;
    const g2 = grad((z: tf.Scalar) => grad((y: tf.Scalar) => cube(y) as tf.Scalar)(z) as tf.Scalar)(x);
    const both = fastPathCounts()['test.cube']!;
    expect(g1.dataSync()[0]).toBeCloseTo(12, 5);
    expect(g2.dataSync()[0]).toBeCloseTo(12, 5);
    if (fastPathsActive()) {
      expect(first).toEqual({ fast: 1, plain: 0 });
      // Under two tapes the reference ran.
      expect(both).toEqual({ fast: 1, plain: 1 });
    }
    tf.dispose([x, g1, g2]);
  });

  test('an op on other backends only runs its reference here', () => {
    setFastPathsEnabled(true);
    const gpuOnly = defineOp({
      name: 'test.gpuOnly',
      reference: (x: tf.Tensor) => tf.neg(x),
      kernel: (x: tf.Tensor) => tf.add(x, 1),
      backends: ['webgpu'],
    });
    const x = tf.scalar(5);
    const y = gpuOnly(x);
    expect(y.dataSync()[0]).toBe(-5);
    expect(fastPathCounts()['test.gpuOnly']).toEqual({ fast: 0, plain: 1 });
    expect(gpuOnly.opName).toBe('test.gpuOnly');
    tf.dispose([x, y]);
  });
});
