import { treeDispose } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import {
  Adam,
  AdamW,
  chain,
  clipByGlobalNorm,
  injectHyperparams,
  Lamb,
  OptaxOptimizer,
  type OptState,
  SGD,
  SGDM,
  scaleByAdam,
  scaleByLearningRate,
  Yogi,
} from './index.js';
import { leavesF64, relativeError, runOptimizer, testGrads, testParams } from './test-helpers.js';

describe('OptaxOptimizer', () => {
  test('numTensors is unchanged after 1000 updates in a loop that disposes old states', () => {
    for (const opt of [new Adam(1e-3), new AdamW(1e-3), new Lamb(1e-3)]) {
      const start = tf.memory().numTensors;
      let state = opt.init(testParams(0));
      const grads = testGrads(0, 0);
      for (let i = 0; i < 1000; i++) {
        const next = opt.update(state, grads);
        tf.dispose(state as unknown as tf.TensorContainer);
        state = next;
      }
      expect(state.iteration.dataSync()[0]).toBe(1000);
      treeDispose(state, grads);
      expect(tf.memory().numTensors).toBe(start);
    }
  });

  test('the optax-style composition from the README trains', () => {
    const opt = new OptaxOptimizer(chain(clipByGlobalNorm(1), scaleByAdam(), scaleByLearningRate(1e-1)));
    // Minimise |p|^2 from the test params: the norm must fall.
    let state = opt.init(testParams(3));
    const n0 = Math.hypot(...leavesF64(state.params).flatMap((l) => Array.from(l)));
    for (let i = 0; i < 50; i++) {
      const g = tf.tidy(() => ({
        layer: { b: tf.mul(state.params.layer.b, 2), w: tf.mul(state.params.layer.w, 2) },
        s: tf.mul(state.params.s, 2),
      }));
      const next = opt.update(state, g);
      treeDispose(state, g);
      state = next;
    }
    const n1 = Math.hypot(...leavesF64(state.params).flatMap((l) => Array.from(l)));
    expect(n1).toBeLessThan(0.2 * n0);
    treeDispose(state);
  });
});

describe('injectHyperparams', () => {
  test('hyperparameters live in the state, follow schedules and can be changed there', () => {
    const tx = injectHyperparams((h) => chain(scaleByAdam({ b1: h.b1 }), scaleByLearningRate(h.learningRate)), {
      learningRate: (count: tf.Tensor) => tf.div(0.1, tf.add(tf.cast(count, 'float32'), 1)),
      b1: 0.9,
    });
    const opt = new OptaxOptimizer(tx);
    const ref = runOptimizer(
      new Adam((c: tf.Tensor) => tf.div(0.1, tf.add(tf.cast(c, 'float32'), 1)), { epsRoot: 0 }),
      10,
    );
    const got = runOptimizer(opt, 10);
    expect(relativeError(got.final, ref.final, ref.p0)).toBeLessThan(1e-5);

    let state = opt.init(testParams(0));
    const g = testGrads(0, 0);
    const s1 = opt.update(state, g);
    expect(s1.optaxOptState.hyperparams.learningRate.dataSync()[0]).toBeCloseTo(0.1, 7);
    const s2 = opt.update(s1, g);
    expect(s2.optaxOptState.hyperparams.learningRate.dataSync()[0]).toBeCloseTo(0.05, 7);
    // A fixed value stored in the state is used from there.
    tf.dispose(s2.optaxOptState.hyperparams.b1);
    s2.optaxOptState.hyperparams.b1 = tf.scalar(0.5);
    const s3 = opt.update(s2, g);
    expect(s3.optaxOptState.hyperparams.b1.dataSync()[0]).toBeCloseTo(0.5, 7);
    treeDispose(state, s1, s2, s3, g);
    state = undefined as never;
  });
});

describe('bad input gets a clear error', () => {
  test('grads whose structure differs from params name the path', () => {
    const opt = new Adam(1e-3);
    const state = opt.init({ layer: { w: tf.zeros([2, 2]), b: tf.zeros([2]) } });
    expect(() => opt.update(state, { layer: { w: tf.zeros([2, 2]) } } as never)).toThrow(/\.layer.*missing keys \[b\]/);
    expect(() => opt.update(state, { layer: { w: tf.zeros([2, 2]), b: tf.zeros([3]) } })).toThrow(/shape \[3\].*\[2\]/);
    treeDispose(state);
  });

  test('a state from another optimizer names this optimizer and the missing field', () => {
    const params = { w: tf.zeros([2]) };
    const sgd = new SGD(0.1);
    const adam = new Adam(1e-3);
    const sgdState = sgd.init(params);
    expect(() => adam.update(sgdState, params)).toThrow(/Adam_lr0\.001.*optaxOptState.*expected an array of length 2/);
    const sgdmState = new SGDM(0.1).init(params);
    expect(() => adam.update(sgdmState, params)).toThrow(
      /Adam_lr0\.001.*optaxOptState.*at \[0\]: missing keys \[count, mu, nu\]; unexpected keys \[trace\]/,
    );
    const momState = { params, modelState: undefined, iteration: tf.scalar(0, 'int32'), momentums: params };
    expect(() => adam.update(momState as OptState<typeof params>, params)).toThrow(
      /Adam_lr0\.001.*no 'optaxOptState' field.*momentums/,
    );
    const other = new SGDM(0.1).init({ w: tf.zeros([3]) });
    expect(() => new SGDM(0.1).update(other, params)).toThrow(
      /grads leaf 0 has shape \[2\] but the param has shape \[3\]/,
    );
    treeDispose(params, sgdState, sgdmState, momState.iteration, other);
  });

  test('one optimizer steps params of the same structure but other shapes', () => {
    const adam = new Adam(0.1);
    for (const n of [3, 4]) {
      const p = [tf.zeros([n])];
      const s = adam.init(p);
      const next = adam.update(s, [tf.ones([n])]);
      expect(Array.from(next.params[0]!.dataSync()).map((v) => Math.round(v * 10) / 10)).toEqual(Array(n).fill(-0.1));
      treeDispose(p, s, next);
    }
  });

  test('invalid hyperparameters are refused', () => {
    expect(() => new SGD(-0.1)).toThrow(/SGD: learningRate must be >= 0, got -0.1/);
    expect(() => new Adam(-1)).toThrow(/Adam: learningRate must be >= 0/);
    expect(() => new Adam(1e-3, { b1: 1 })).toThrow(/b1 must be >= 0 and < 1/);
    expect(() => new Yogi(1e-3, { b2: -0.5 })).toThrow(/b2/);
    expect(() => new SGDM(0.1, -0.9)).toThrow(/momentum/);
  });

  test('non-float params are refused at init', () => {
    expect(() => new Adam().init({ w: tf.zeros([2], 'int32') })).toThrow(/int32; parameters must be float32/);
  });
});
