import { random, treeDispose } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LearnableAdam, LearnableSGD, LearnableSGDM } from './learnable-hparams.js';

const key = random.PRNGKey(0);
const val = (x: tf.Tensor) => Array.from(x.dataSync());

describe('LearnableAdam', () => {
  it('starts at the reference values', () => {
    const theta = new LearnableAdam().init(key);
    expect(Object.keys(theta).sort()).toEqual(['logEpsilon', 'logLr', 'oneMinusBeta1', 'oneMinusBeta2']);
    expect(theta.logLr.dataSync()[0]).toBeCloseTo(Math.log(1e-3), 5); // -6.91
    expect(theta.oneMinusBeta1.dataSync()[0]).toBeCloseTo(Math.log(0.1), 5);
    expect(theta.oneMinusBeta2.dataSync()[0]).toBeCloseTo(Math.log(1e-3), 4);
    expect(theta.logEpsilon.dataSync()[0]).toBeCloseTo(Math.log(1e-8), 4); // -18.42
    treeDispose(theta);
  });

  it('steps as Adam with bias correction (float64 reference, two steps)', () => {
    const lopt = new LearnableAdam({ initialLr: 0.1, initialBeta1: 0.8, initialBeta2: 0.9, initialEpsilon: 1e-3 });
    const theta = lopt.init(key);
    const opt = lopt.optFn(theta);
    let s = opt.init({ a: tf.tensor1d([0.5, -1]) });
    const gs = [
      [1, -2],
      [0.5, 0],
    ];
    const p = [0.5, -1];
    const m = [0, 0];
    const v = [0, 0];
    gs.forEach((g, t) => {
      s = opt.update(s, { a: tf.tensor1d(g) });
      for (let i = 0; i < 2; i++) {
        m[i] = 0.8 * m[i]! + 0.2 * g[i]!;
        v[i] = 0.9 * v[i]! + 0.1 * g[i]! ** 2;
        const mh = m[i]! / (1 - 0.8 ** (t + 1));
        const vh = v[i]! / (1 - 0.9 ** (t + 1));
        p[i] = p[i]! - (0.1 * mh) / (Math.sqrt(vh + 1e-8) + 1e-3);
      }
    });
    const got = val(opt.getParams(s).a);
    got.forEach((x, i) => expect(x).toBeCloseTo(p[i]!, 5));
    expect(s.iteration.dataSync()[0]).toBe(2);
    expect(Object.keys(s).sort()).toEqual(['iteration', 'modelState', 'optaxOptState', 'params']);
  });
});

describe('LearnableSGD and LearnableSGDM', () => {
  it('LearnableSGD steps p - exp(logLr) g', () => {
    const lopt = new LearnableSGD(0.5);
    expect(lopt.name).toBe('LearnableSGD');
    const opt = lopt.optFn(lopt.init(key));
    const s = opt.update(opt.init({ a: tf.scalar(1) }), { a: tf.scalar(4) });
    expect(opt.getParams(s).a.dataSync()[0]).toBeCloseTo(-1, 6);
  });

  it('LearnableSGDM keeps optax trace t = g + momentum t', () => {
    const lopt = new LearnableSGDM(0.1, 0.5);
    const theta = lopt.init(key);
    expect(theta.oneMinusMomentum.dataSync()[0]).toBeCloseTo(Math.log(0.5), 6);
    const opt = lopt.optFn(theta);
    let s = opt.init({ a: tf.scalar(0) });
    s = opt.update(s, { a: tf.scalar(1) }); // t = 1, p = -0.1
    s = opt.update(s, { a: tf.scalar(2) }); // t = 2.5, p = -0.35
    expect(opt.getParams(s).a.dataSync()[0]).toBeCloseTo(-0.35, 6);
  });
});

describe('optFn of the learnable-hyperparameter optimizers', () => {
  it.each([
    ['LearnableSGD', () => new LearnableSGD(0.1)],
    ['LearnableSGDM', () => new LearnableSGDM(0.1, 0.9)],
    ['LearnableAdam', () => new LearnableAdam({ initialLr: 0.1 })],
  ] as const)(
    '%s: dispose() frees the hyperparameter tensors it made; numTensors returns to its start',
    (_name, make) => {
      const lopt = make();
      const theta = lopt.init(key);
      const start = tf.memory().numTensors;
      const opt = lopt.optFn(theta as never);
      const made = tf.memory().numTensors - start;
      expect(made).toBeGreaterThan(0);
      // The first state holds these params; disposing the states frees them.
      let state = opt.init({ w: tf.tensor1d([1, -2, 3]) });
      for (let i = 0; i < 3; i++) {
        const next = tf.tidy(
          () => opt.update(state, { w: tf.mul(2, opt.getParams(state).w) }) as never,
        ) as typeof state;
        treeDispose(state);
        state = next;
      }
      // The optimizer stepped: every parameter moved towards zero (gradient 2w).
      const w = val(opt.getParams(state).w);
      [1, -2, 3].forEach((w0, i) => expect(Math.abs(w[i]!)).toBeLessThan(Math.abs(w0)));
      treeDispose(state);
      expect(tf.memory().numTensors - start).toBe(made);
      opt.dispose();
      expect(tf.memory().numTensors).toBe(start);
      treeDispose(theta);
    },
  );
});
