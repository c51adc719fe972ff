import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import { grad, valueAndGrad } from './autodiff.js';
import { ensureGradients } from './gradients/registry.js';
import * as random from './random.js';
import { treeDispose } from './tree.js';

const v = (t: tf.Tensor) => Array.from(t.dataSync());

interface Params {
  w: tf.Tensor;
  layers: [tf.Tensor, { b: tf.Tensor }];
}

describe('valueAndGrad / grad over pytrees', () => {
  test('gradients mirror the params structure (loss(params, key, batch))', () => {
    const params: Params = { w: tf.tensor([1, 2]), layers: [tf.tensor([3]), { b: tf.tensor([[4, 5]]) }] };
    const batch = { x: tf.tensor([10, 20]), y: tf.tensor([1], [1], 'int32') };
    const loss = (p: Params, _key: random.PRNGKey, d: typeof batch): tf.Scalar =>
      tf.addN([
        tf.sum(tf.mul(p.w, d.x)),
        tf.sum(tf.square(p.layers[0])),
        tf.mul(0.5, tf.sum(tf.square(p.layers[1].b))),
      ]) as tf.Scalar;
    const before = tf.memory().numTensors;
    const [value, g] = valueAndGrad(loss)(params, random.PRNGKey(0), batch);
    expect(value.dataSync()[0]).toBeCloseTo(10 + 40 + 9 + 0.5 * (16 + 25), 4);
    expect(v(g.w)).toEqual([10, 20]);
    expect(v(g.layers[0])).toEqual([6]);
    expect(g.layers[1].b.shape).toEqual([1, 2]);
    expect(v(g.layers[1].b)).toEqual([4, 5]);
    treeDispose(value, g);
    expect(tf.memory().numTensors).toBe(before);
    treeDispose(params, batch);
  });

  test('argnums picks arguments; an array gives a tuple of gradients', () => {
    const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.square(a), b)) as tf.Scalar;
    const a = tf.tensor([1, 2]);
    const b = tf.tensor([3, 4]);
    const gb = grad(f, { argnums: 1 })(a, b);
    expect(v(gb)).toEqual([1, 4]);
    const [ga, gb2] = grad(f, { argnums: [0, 1] })(a, b);
    expect(v(ga)).toEqual([6, 16]);
    expect(v(gb2)).toEqual([1, 4]);
    expect(() => grad(f, { argnums: 2 })(a, b)).toThrow(/argnums 2 is out of range/);
    tf.dispose([a, b, gb, ga, gb2]);
  });

  test('hasAux returns [[value, aux], grads] and aux survives', () => {
    const f = (x: tf.Tensor): [tf.Scalar, { pred: tf.Tensor; n: number }] => {
      const pred = tf.mul(x, 3);
      return [tf.sum(tf.square(pred)) as tf.Scalar, { pred, n: 7 }];
    };
    const x = tf.tensor([1, -1]);
    const before = tf.memory().numTensors;
    const [[value, aux], g] = valueAndGrad(f, { hasAux: true })(x);
    expect(value.dataSync()[0]).toBeCloseTo(18, 5);
    expect(v(aux.pred)).toEqual([3, -3]);
    expect(aux.n).toBe(7);
    expect(v(g)).toEqual([18, -18]);
    tf.dispose([value, aux.pred, g]);
    expect(tf.memory().numTensors).toBe(before);
    const [g2, aux2] = grad(f, { hasAux: true })(x);
    expect(v(g2)).toEqual([18, -18]);
    tf.dispose([g2, aux2.pred, x]);
  });

  test('non-float leaves are not differentiated and keep their place', () => {
    const f = (p: { x: tf.Tensor; ids: tf.Tensor; k: random.PRNGKey }) =>
      tf.sum(tf.mul(p.x, tf.cast(p.ids, 'float32'))) as tf.Scalar;
    const p = { x: tf.tensor([1, 2]), ids: tf.tensor([3, 4], [2], 'int32'), k: random.PRNGKey(1) };
    const g = grad(f)(p);
    expect(v(g.x)).toEqual([3, 4]);
    expect(v(g.ids)).toEqual([0, 0]);
    expect(g.k).toBe(p.k);
    treeDispose(g, p.x, p.ids);
  });

  test('grad composes: second and third derivatives of a scalar function', () => {
    // f(x) = x^3 tanh(x): f' = 3x^2 t + x^3 (1 - t^2)
    const f = (x: tf.Tensor) => tf.sum(tf.mul(tf.pow(x, 3), tf.tanh(x))) as tf.Scalar;
    const d1 = (x: tf.Tensor) => tf.sum(grad(f)(x)) as tf.Scalar;
    const d2 = (x: tf.Tensor) => tf.sum(grad(d1)(x)) as tf.Scalar;
    const x0 = 0.7;
    const F = (x: number) => x ** 3 * Math.tanh(x);
    const h = 1e-3;
    const f2 = (F(x0 + h) - 2 * F(x0) + F(x0 - h)) / (h * h);
    const f3 = (F(x0 + 2 * h) - 2 * F(x0 + h) + 2 * F(x0 - h) - F(x0 - 2 * h)) / (2 * h ** 3);
    const x = tf.scalar(x0);
    const before = tf.memory().numTensors;
    const g2 = grad(d1)(x);
    const g3 = grad(d2)(x);
    expect(g2.dataSync()[0]).toBeCloseTo(f2, 3);
    expect(Math.abs(g3.dataSync()[0]! - f3)).toBeLessThan(1e-2 * Math.abs(f3));
    tf.dispose([g2, g3]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  test('numTensors is unchanged after many gradient calls', () => {
    const p = {
      a: tf.tensor([0.5, -0.5]),
      b: tf.tensor([
        [1, 2],
        [3, 4],
      ]),
    };
    const f = (q: typeof p) => tf.sum(tf.tanh(tf.matMul(tf.reshape(q.a, [1, 2]), q.b))) as tf.Scalar;
    const before = tf.memory().numTensors;
    for (let i = 0; i < 50; i++) {
      const [l, g] = valueAndGrad(f)(p);
      const h = grad((q: typeof p) => tf.sum(grad(f)(q).a) as tf.Scalar)(p);
      treeDispose(l, g, h);
    }
    expect(tf.memory().numTensors).toBe(before);
    treeDispose(p);
  });

  test('f must return a float32 scalar', () => {
    const x = tf.tensor([1, 2]);
    expect(() => grad((y: tf.Tensor) => tf.mul(y, 2) as unknown as tf.Scalar)(x)).toThrow(
      /must return a scalar tensor, got a tensor of shape \[2\]/,
    );
    expect(() => valueAndGrad((y: tf.Tensor) => [tf.sum(y), 1] as unknown as tf.Scalar, { hasAux: false })(x)).toThrow(
      /must return a scalar tensor/,
    );
    x.dispose();
  });

  test('our gradients are re-installed if another package overrides them', () => {
    // A twice-differentiable Tanh gradient matters for meta-gradients; a package such as
    // @tensorflow/tfjs registering its own afterwards must not silently replace it.
    tf.registerGradient({
      kernelName: 'Tanh',
      outputsToSave: [true],
      gradFunc: (dy, [y]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.sub(1, tf.square(y!))) }),
    });
    const f = (x: tf.Tensor) => tf.sum(grad((y: tf.Tensor) => tf.sum(tf.tanh(y)) as tf.Scalar)(x)) as tf.Scalar;
    const x = tf.scalar(0.3);
    const g = grad(f)(x);
    const t = Math.tanh(0.3);
    expect(g.dataSync()[0]).toBeCloseTo(-2 * t * (1 - t * t), 5);
    ensureGradients();
    tf.dispose([x, g]);
  });
});

test('a tensor used by several ops gets each gradient once (no shared gradient tensors)', () => {
  // p_{t+1} = p + (p * 2 * -lr + p * -0.01) = p c with c = 0.99 - 2 lr; f = |p0|^2 c^4.
  const f = (lr: tf.Tensor) => {
    let p: tf.Tensor = tf.tensor1d([0.5, 0.4]);
    for (let i = 0; i < 2; i++) p = tf.add(p, tf.add(tf.mul(tf.mul(p, 2), tf.neg(lr)), tf.mul(p, -0.01)));
    return tf.sum(tf.square(p)) as tf.Scalar;
  };
  const lr = tf.scalar(0.05);
  const before = tf.memory().numTensors;
  const g = grad(f)(lr);
  const c = 0.99 - 2 * 0.05;
  expect(g.dataSync()[0]).toBeCloseTo(0.41 * 4 * c ** 3 * -2, 4);
  g.dispose();
  expect(tf.memory().numTensors).toBe(before);
  lr.dispose();
});
