import { random } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LearnableSGD } from './learnable-hparams.js';
import { learnedOptimizerFromOpt } from './learned-optimizer-from-opt.js';
import { leafRows, normalizedFirstLayer } from './per-tensor.js';
import { StackedSegments } from './stacked.js';
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

describe('StackedSegments', () => {
  it('refuses a membership matrix too large to build, naming the sizes', () => {
    // 2^20 elements in 100 segments: 1e8 entries, over the 2^26 limit.
    expect(() => new StackedSegments(new Int32Array(2 ** 20), 100)).toThrow(/1048576 parameters in 100 groups/);
  });
});

describe('normalizedFirstLayer', () => {
  // Both orders (weights scaled, for narrow layers; inputs scaled, for wide ones) equal
  // the plain normalise-then-multiply on each tensor's rows.
  it.each([
    ['narrow layer', 2],
    ['wide layer', 9],
  ])('equals normalising each tensor then one matmul (%s)', (_, fanOut) => {
    tf.tidy(() => {
      const k = random.split(random.PRNGKey(9), 4);
      const x = random.normal(k[0]!, [7, 5]) as tf.Tensor2D;
      const layer = {
        w: random.normal(k[1]!, [5 + 3, fanOut]) as tf.Tensor2D,
        b: random.normal(k[2]!, [fanOut]) as tf.Tensor1D,
      };
      const extra = random.normal(k[3]!, [3]);
      const sizes = [4, 3];
      const blocks = leafRows(x, sizes).map((r) => [
        tf.slice(r, [0, 0], [-1, 2]) as tf.Tensor2D,
        tf.slice(r, [0, 2], [-1, 3]) as tf.Tensor2D,
      ]);
      const got = normalizedFirstLayer(layer, blocks, extra);
      const norm = (r: tf.Tensor2D) => tf.mul(r, tf.rsqrt(tf.add(tf.mean(tf.square(r), 0, true), 1e-5)));
      const xn = tf.concat(leafRows(x, sizes).map(norm), 0);
      const want = tf.add(tf.matMul(tf.concat([xn, tf.tile(tf.reshape(extra, [1, 3]), [7, 1])], 1), layer.w), layer.b);
      const a = got.dataSync();
      const b = want.dataSync();
      expect(got.shape).toEqual([7, fanOut]);
      a.forEach((v, i) => expect(Math.abs(v - b[i]!)).toBeLessThan(1e-4 * (1 + Math.abs(b[i]!))));
    });
  });
});
