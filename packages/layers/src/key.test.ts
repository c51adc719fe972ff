import { Optimizer, type OptState, SGD, type UpdateOptions } from '@lopt/optimizers';
import { random } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { asTfOptimizer } from './index.js';

/** SGD plus Gaussian noise drawn from the update's key (Langevin-style): the key matters. */
class NoisySGD extends Optimizer {
  private readonly sgd = new SGD(0.1);
  init<P>(params: P): OptState<P> {
    return this.sgd.init(params);
  }
  update<P>(state: OptState<P>, grads: P, opts?: UpdateOptions): OptState<P> {
    if (!opts?.key) throw new Error('NoisySGD needs a key');
    const next = this.sgd.update(state, grads);
    const params = (next.params as tf.Tensor[]).map((p, i) =>
      tf.add(p, tf.mul(0.01, random.normal(random.foldIn(opts.key!, i), p.shape))),
    );
    return { ...next, params: params as P };
  }
}

async function trainTwice(key: number): Promise<Float32Array> {
  const w0 = tf.tensor1d([1, -2, 3]);
  const w = tf.variable(w0);
  w0.dispose();
  const opt = asTfOptimizer(new NoisySGD(), { key: random.PRNGKey(key) });
  for (let i = 0; i < 2; i++) opt.minimize(() => tf.sum(tf.square(w)) as tf.Scalar, true, [w])?.dispose();
  const out = (await w.data()) as Float32Array;
  opt.dispose();
  w.dispose();
  return out;
}

describe('asTfOptimizer with a key', () => {
  it('folds the step into the key from the first step on: same key, same weights; another key, others', async () => {
    const start = tf.memory().numTensors;
    const a = await trainTwice(0);
    const b = await trainTwice(0);
    const c = await trainTwice(1);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    // Without noise two SGD steps at 0.1 give w * 0.64; the noise moved every weight.
    [1, -2, 3].forEach((w0, i) => expect(a[i]).not.toBe(Math.fround(w0 * 0.64)));
    expect(tf.memory().numTensors).toBe(start);
  });
});
