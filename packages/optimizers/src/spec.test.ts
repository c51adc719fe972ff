// The "Optimizers" section of the user-code contract (spec part 1), run as written.

import { treeMap } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { expect, test } from 'vitest';
import { Adam, Optimizer, SGD } from './index.js';

interface MomentumOptState<P> {
  params: P;
  modelState: unknown;
  iteration: tf.Scalar;
  momentums: P;
}

// The spec's user-written subclass, verbatim apart from formatting.
class MomentumOptimizer extends Optimizer {
  constructor(
    private lr = 1e-3,
    private momentum = 0.9,
  ) {
    super();
  }
  init<P>(params: P, { modelState }: { modelState?: unknown } = {}): MomentumOptState<P> {
    return { params, modelState, momentums: treeMap(tf.zerosLike, params) as P, iteration: tf.scalar(0, 'int32') };
  }
  override getParams<P>(s: MomentumOptState<P>): P {
    return s.params;
  }
  override getState<P>(s: MomentumOptState<P>): unknown {
    return s.modelState;
  }
  update<P>(
    s: MomentumOptState<P>,
    grads: P,
    opts: { loss?: tf.Scalar; modelState?: unknown } = {},
  ): MomentumOptState<P> {
    const m = treeMap(
      (m: tf.Tensor, g: tf.Tensor) => tf.add(tf.mul(m, this.momentum), tf.mul(g, 1 - this.momentum)),
      s.momentums,
      grads,
    ) as P;
    const p = treeMap((p: tf.Tensor, m: tf.Tensor) => tf.sub(p, tf.mul(m, this.lr)), s.params, m) as P;
    return { params: p, modelState: opts.modelState, iteration: tf.add(s.iteration, 1), momentums: m };
  }
}

test('SGD and Adam states print their contents', () => {
  const fakeParams = { a: tf.zeros([2]) };
  let opt: Optimizer = new SGD(1e-4);
  let optState = opt.init(fakeParams);
  // expect: params, iteration 0
  expect(Object.keys(optState)).toEqual(expect.arrayContaining(['params', 'iteration', 'modelState']));
  expect(optState.iteration.dtype).toBe('int32');
  expect(optState.iteration.dataSync()[0]).toBe(0);
  expect(optState.params).toBe(fakeParams);

  opt = new Adam(1e-4);
  optState = opt.init(fakeParams);
  // expect: first and second moment accumulators as well
  const printed = JSON.stringify(treeMap((x) => Array.from(x.dataSync()), optState));
  expect(printed).toContain('"mu":{"a":[0,0]}');
  expect(printed).toContain('"nu":{"a":[0,0]}');

  const fakeGrads = { a: tf.ones([2]) };
  const loss = tf.scalar(10);
  const nextOptState = opt.update(optState, fakeGrads, { loss });
  const a = Array.from(opt.getParams(nextOptState).a.dataSync());
  // expect: [-1e-4, -1e-4]
  expect(a[0]).toBeCloseTo(-1e-4, 9);
  expect(a[1]).toBeCloseTo(-1e-4, 9);
  expect(nextOptState.iteration.dataSync()[0]).toBe(1);
  tf.dispose([fakeParams.a, fakeGrads.a, loss]);
  tf.dispose([optState as unknown as tf.TensorContainer, nextOptState as unknown as tf.TensorContainer]);
});

test('the user-written MomentumOptimizer runs through the Optimizer interface', () => {
  const mom: Optimizer = new MomentumOptimizer(1);
  const s = mom.update(mom.init({ a: tf.scalar(1), b: tf.scalar(2) }), {
    a: tf.scalar(-1),
    b: tf.scalar(1),
  }) as MomentumOptState<{
    a: tf.Scalar;
    b: tf.Scalar;
  }>;
  // expect: params a = 1.1, b = 1.9; momentums a = -0.1, b = 0.1
  expect(mom.getParams(s).a.dataSync()[0]).toBeCloseTo(1.1, 6);
  expect(mom.getParams(s).b.dataSync()[0]).toBeCloseTo(1.9, 6);
  expect(s.momentums.a.dataSync()[0]).toBeCloseTo(-0.1, 6);
  expect(s.momentums.b.dataSync()[0]).toBeCloseTo(0.1, 6);
  expect(mom.name).toBe('MomentumOptimizer');
  const [p, ms] = mom.getParamsState(s);
  expect(p).toBe(s.params);
  expect(ms).toBeUndefined();
});
