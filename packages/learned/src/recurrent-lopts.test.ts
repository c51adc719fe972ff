import { random } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { NNAdam, type NNAdamState } from './nn-adam.js';
import { RNNMLPLOpt, type RNNMLPLOptState } from './rnn-mlp-lopt.js';

type Params = Record<string, tf.Tensor>;
const params = (): Params => ({
  w: tf.tensor2d([
    [0.5, -1],
    [2, 0],
  ]),
  b: tf.zeros([2]),
  s: tf.scalar(1),
});
const grads = (): Params => ({
  w: tf.tensor2d([
    [1, -2],
    [0, 0.5],
  ]),
  b: tf.tensor1d([0, 3]),
  s: tf.scalar(-1),
});

describe('RNNMLPLOpt', () => {
  it('has the reference sizes', () => {
    const theta = new RNNMLPLOpt().init(random.PRNGKey(0));
    expect(theta.rnnParams.w.shape).toEqual([52 + 64, 256]);
    expect(theta.ffmodParams.map((l) => l.w.shape)).toEqual([
      [54, 32],
      [32, 32],
      [32, 18],
    ]);
    expect(theta.rnnToFfParams.w.shape).toEqual([64, 17]);
    expect(theta.rnnToInParams.w.shape).toEqual([64, 18]);
    expect(theta.initialFromLstm.shape).toEqual([18]);
    expect(theta.initialFromMlp.shape).toEqual([16]);
  });

  it('keeps per-tensor LSTM state and messages, and needs the loss', () => {
    const lopt = new RNNMLPLOpt();
    const opt = lopt.optFn(lopt.init(random.PRNGKey(0)));
    let s = opt.init(params()) as RNNMLPLOptState<Params>;
    expect(s.lstmHiddenState.hidden.shape).toEqual([3, 64]);
    expect(s.fromMlp.shape).toEqual([3, 16]);
    expect(() => opt.update(s, grads())).toThrow(/needs the loss/);
    const before = s.params.w.dataSync().slice();
    s = opt.update(s, grads(), { loss: tf.scalar(2) }) as RNNMLPLOptState<Params>;
    s = opt.update(s, grads(), { loss: tf.scalar(1.5) }) as RNNMLPLOptState<Params>;
    expect(s.iteration.dataSync()[0]).toBe(2);
    expect(s.momRolling.m.shape).toEqual([7, 5]);
    const after = s.params.w.dataSync();
    const moved = Array.from(after).map((x, i) => Math.abs(x - before[i]!));
    // Steps are out0 * exp(out1 * 0.001) * 0.001: small but not zero.
    expect(Math.max(...moved)).toBeGreaterThan(1e-6);
    expect(Math.max(...moved)).toBeLessThan(0.1);
    expect(Array.from(s.fromLstm.dataSync()).every(Number.isFinite)).toBe(true);
    // A validation loss only advances the validation normaliser.
    const v = opt.update(s, grads(), { loss: tf.scalar(3), isValid: true } as never) as RNNMLPLOptState<Params>;
    expect(v.params).toBe(s.params);
    expect(v.validLossAccum.updates.dataSync()[0]).toBe(1);
  });
});

describe('NNAdam', () => {
  it('starts at the reference hyperparameters with zero LSTM output weights', () => {
    const theta = new NNAdam().init(random.PRNGKey(0));
    expect(theta.perLayerLr.dataSync()[0]).toBeCloseTo(0.1 * Math.log(1e-4), 5);
    expect(theta.perLayerBeta1.dataSync()[0]).toBeCloseTo(0.1 * Math.log(0.1), 5);
    expect(theta.perLayerEpsilon.dataSync()[0]).toBeCloseTo(0.1 * Math.log(1e-8), 5);
    expect(theta.rnnParams.w.shape).toEqual([19 + 32, 128]);
    expect(Array.from(theta.rnnToControlsParams.w.dataSync()).every((x) => x === 0)).toBe(true);
  });

  it('first step is lr (1 + eps) m / (eps + sqrt(rms + 1e-10)) without bias correction', () => {
    const lopt = new NNAdam({ initialLearningRate: 0.1, initialEpsilon: 1e-3 });
    const opt = lopt.optFn(lopt.init(random.PRNGKey(0)));
    const s = opt.update(opt.init(params(), { numSteps: 10 }), grads(), { loss: tf.scalar(1) }) as NNAdamState<Params>;
    const p0 = params().w.dataSync();
    const g = grads().w.dataSync();
    const got = s.params.w.dataSync();
    g.forEach((gi, i) => {
      const m = 0.1 * gi;
      const rms = 0.001 * gi * gi;
      const want = p0[i]! - ((0.1 * (1 + 1e-3)) / (1e-3 + Math.sqrt(rms + 1e-10))) * m;
      expect(got[i]).toBeCloseTo(want, 4);
    });
    // Zero output weights: the per-layer hyperparameters are unchanged after a step.
    expect(s.perLayerLr.shape).toEqual([3]);
    Array.from(s.perLayerLr.dataSync()).forEach((x) => expect(x).toBeCloseTo(0.1 * Math.log(0.1), 5));
  });
});
