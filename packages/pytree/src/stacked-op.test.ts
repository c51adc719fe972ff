import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, test } from 'vitest';
import { grad } from './autodiff.js';
import {
  defineOp,
  fastPathCounts,
  fastPathsActive,
  fastPathsEnabled,
  resetFastPathCounts,
  setFastPathsEnabled,
} from './fast-op.js';
import { stackedOp } from './stacked-op.js';

const initialFast = fastPathsEnabled();
afterEach(() => {
  expect(fastPathsEnabled()).toBe(initialFast);
});

// k * x^3 + sin(x): its kernel computes the same values by other ops (as a fused kernel
// would), differentiable, so derivatives of every order come from it.
let kernelCalls = 0;
const cubic = defineOp<[tf.Tensor, tf.Tensor], tf.Tensor>({
  name: 'test.cubic',
  reference: (x, k) => tf.add(tf.mul(k, tf.pow(x, 3)), tf.sin(x)),
  kernel: (x, k) => {
    kernelCalls += 1;
    return tf.add(tf.mul(tf.mul(tf.square(x), x), k), tf.sin(x));
  },
  applies: (x) => x.dtype === 'float32',
});

const split = (x: tf.Tensor, k: tf.Tensor): [tf.Tensor, tf.Tensor][] =>
  tf.unstack(x).map((xi, i) => [xi, tf.reshape(tf.slice(k, [i], [1]), [])]);
type Args = [tf.Tensor, tf.Tensor];
const cubicK = stackedOp<Args, tf.Tensor, Args, tf.Tensor>(cubic, {
  split,
  stack: (rs) => tf.stack(rs),
  broadcast: { args: (x, k): Args => [x, tf.reshape(k, [-1, 1, 1])], result: (r) => r },
});
const cubicLoop = stackedOp<Args, tf.Tensor, Args, tf.Tensor>(cubic, {
  name: 'test.cubic.loop',
  split,
  stack: (rs) => tf.stack(rs),
  kernel: 'none',
});

// K = 3 problems of [2, 2] each, with their own scales.
const xs = [
  [0.5, -1.2, 2, 0.1],
  [1.5, 0.3, -0.7, 1],
  [-2, 0.9, 0.4, -0.3],
];
const ks = [0.7, -1.3, 2.1];
const x = () => tf.tensor3d(xs.flat(), [3, 2, 2]);
const k = () => tf.tensor1d(ks);
// A weighting that makes the problems' contributions differ in the tested scalar.
const w = () => tf.tensor3d([1, -2, 3, 0.5, 2, 1, -1, 4, 0.3, -0.6, 1.1, 2], [3, 2, 2]);

/** K separate single-problem calls, stacked: what every path of the derived op must give. */
function separate(f: (x: tf.Tensor, k: tf.Tensor) => tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const xk = tf.unstack(x());
    return tf.stack(xk.map((xi, i) => f(xi, tf.scalar(ks[i]!))));
  });
}

function close(a: tf.Tensor, b: tf.Tensor, tol = 1e-5) {
  expect(a.shape).toEqual(b.shape);
  const av = a.dataSync();
  const bv = b.dataSync();
  av.forEach((v, i) => expect(Math.abs(v - bv[i]!)).toBeLessThanOrEqual(tol * (1 + Math.abs(bv[i]!))));
}

function withFastPaths(on: boolean, f: () => void): void {
  const before = setFastPathsEnabled(on);
  try {
    f();
  } finally {
    setFastPathsEnabled(before);
  }
}

describe('stackedOp', () => {
  test.each([true, false])('K stacked calls give the values of K single calls (fast paths %s)', (on) => {
    const start = tf.memory().numTensors;
    withFastPaths(on, () => {
      resetFastPathCounts();
      kernelCalls = 0;
      const got = tf.tidy(() => cubicK(x(), k()));
      const loop = tf.tidy(() => cubicLoop(x(), k()));
      const want = separate((xi, ki) => cubic.reference(xi, ki));
      close(got, want);
      close(loop, want);
      const c = fastPathCounts()['test.cubic.stacked']!;
      if (on && fastPathsActive()) {
        // The op's kernel once per problem.
        expect(c).toEqual({ fast: 1, plain: 0 });
        expect(kernelCalls).toBe(3);
      } else {
        expect(c).toEqual({ fast: 0, plain: 1 });
        expect(kernelCalls).toBe(0);
      }
      expect(fastPathCounts()['test.cubic.loop']).toEqual({ fast: 0, plain: 1 });
      tf.dispose([got, loop, want]);
    });
    expect(tf.memory().numTensors).toBe(start);
  });

  test.each([true, false])('first and second derivatives match K single calls (fast paths %s)', (on) => {
    const start = tf.memory().numTensors;
    withFastPaths(on, () => {
      for (const f of [cubicK, cubicLoop]) {
        // d/dx sum(w * f(x, k)), and the derivative of its sum of squares (second order).
        const first = (xx: tf.Tensor, kk: tf.Tensor) =>
          grad((y: tf.Tensor) => tf.sum(tf.mul(w(), f(y, kk))) as tf.Scalar)(xx);
        const g1 = tf.tidy(() => first(x(), k()));
        const g2 = tf.tidy(() => grad((y: tf.Tensor) => tf.sum(tf.square(first(y, k()))) as tf.Scalar)(x()));
        const gk = tf.tidy(() => grad((kk: tf.Tensor) => tf.sum(tf.mul(w(), f(x(), kk))) as tf.Scalar)(k()));
        const singleFirst = (xi: tf.Tensor, i: number) =>
          grad((y: tf.Tensor) => tf.sum(tf.mul(tf.unstack(w())[i]!, cubic(y, tf.scalar(ks[i]!)))) as tf.Scalar)(xi);
        const want1 = tf.tidy(() => tf.stack(tf.unstack(x()).map((xi, i) => singleFirst(xi, i))));
        const want2 = tf.tidy(() =>
          tf.stack(
            tf
              .unstack(x())
              .map((xi, i) => grad((y: tf.Tensor) => tf.sum(tf.square(singleFirst(y, i))) as tf.Scalar)(xi)),
          ),
        );
        const wantK = tf.tidy(() =>
          tf.stack(
            tf
              .unstack(x())
              .map((xi, i) =>
                grad((kk: tf.Tensor) => tf.sum(tf.mul(tf.unstack(w())[i]!, cubic(xi, kk))) as tf.Scalar)(
                  tf.scalar(ks[i]!),
                ),
              ),
          ),
        );
        // Against float64 by hand for the first derivative: w (3 k x^2 + cos x).
        const wv = [1, -2, 3, 0.5, 2, 1, -1, 4, 0.3, -0.6, 1.1, 2];
        const exact = xs.flatMap((row, i) => row.map((v, j) => wv[i * 4 + j]! * (3 * ks[i]! * v * v + Math.cos(v))));
        const exactT = tf.tensor3d(exact, [3, 2, 2]);
        close(g1, exactT, 1e-5);
        close(g1, want1);
        close(g2, want2, 1e-4);
        close(gk, wantK);
        tf.dispose([g1, g2, gk, want1, want2, wantK, exactT]);
      }
    });
    expect(tf.memory().numTensors).toBe(start);
  });

  test('a dedicated K kernel replaces the per-problem loop; its reference is still derived', () => {
    setFastPathsEnabled(initialFast);
    let dedicated = 0;
    const viaKernel = stackedOp<Args, tf.Tensor, Args, tf.Tensor>(cubic, {
      name: 'test.cubic.dedicated',
      split,
      stack: (rs) => tf.stack(rs),
      kernel: {
        run: (xx: tf.Tensor, kk: tf.Tensor) => {
          dedicated += 1;
          return tf.add(tf.mul(tf.reshape(kk, [-1, 1, 1]), tf.pow(xx, 3)), tf.sin(xx));
        },
      },
    });
    resetFastPathCounts();
    const got = tf.tidy(() => viaKernel(x(), k()));
    const want = separate((xi, ki) => cubic.reference(xi, ki));
    close(got, want);
    expect(dedicated).toBe(fastPathsActive() ? 1 : 0);
    expect(viaKernel.reference).toBeDefined();
    tf.dispose([got, want]);
  });

  test('an op without a kernel cannot ask for the per-problem kernel', () => {
    const plain = defineOp({ name: 'test.plain', reference: (a: tf.Tensor) => tf.neg(a) });
    expect(() =>
      stackedOp(plain, { split: (a: tf.Tensor): [tf.Tensor][] => [[a]], stack: (r) => r[0]!, kernel: 'perProblem' }),
    ).toThrow(/has no kernel/);
  });
});
