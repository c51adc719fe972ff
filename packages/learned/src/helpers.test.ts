import * as tf from '@tensorflow/tfjs-core';
import { random } from '@lopt/pytree';
import { describe, expect, it } from 'vitest';
import { learnedOptimizerFromOpt } from './learned-optimizer-from-opt.js';
import { LearnableSGD } from './learnable-hparams.js';
import { SumLearnedOptimizer } from './sum-learned-optimizer.js';

describe('SumLearnedOptimizer', () => {
  it('sums the inner steps and keeps both inner states at the summed params', () => {
    const lopt = new SumLearnedOptimizer([new LearnableSGD(0.1), new LearnableSGD(0.3)]);
    const theta = lopt.init(random.PRNGKey(0));
    expect(Object.keys(theta).sort()).toEqual(['innerLoptTheta0', 'innerLoptTheta1']);
    const opt = lopt.optFn(theta);
    let s = opt.init({ a: tf.tensor1d([1, 2]) });
    s = opt.update(s, { a: tf.tensor1d([1, -1]) });
    s = opt.update(s, { a: tf.tensor1d([1, 1]) });
    const a = Array.from(opt.getParams(s).a.dataSync());
    expect(a[0]).toBeCloseTo(1 - 0.4 - 0.4, 5);
    expect(a[1]).toBeCloseTo(2 + 0.4 - 0.4, 5);
  });

  it('rejects a number of optimizers other than two', () => {
    const lopt = new SumLearnedOptimizer([new LearnableSGD()]);
    expect(() => lopt.optFn(lopt.init(random.PRNGKey(0)))).toThrow(/exactly 2/);
  });
});

describe('learnedOptimizerFromOpt', () => {
  it('has an empty theta and returns the optimizer', () => {
    const inner = new LearnableSGD(0.1);
    const opt = inner.optFn(inner.init(random.PRNGKey(0)));
    const lopt = learnedOptimizerFromOpt(opt);
    expect(lopt.init(random.PRNGKey(0))).toEqual({});
    expect(lopt.optFn({})).toBe(opt);
  });
});
