import { type PRNGKey, random, treeMap, valueAndGrad } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import { batchedLoss, stackParams } from './batched.js';
import {
  BatchQuadraticTask,
  FixedDimQuadraticFamily,
  FixedDimQuadraticFamilyData,
  LogQuadraticTask,
  NoisyQuadraticFamily,
  QuadraticTask,
  SumQuadraticTask,
} from './quadratics.js';
import type { Task } from './task.js';
import { finiteDifferenceError } from './test-helpers.js';

const key = random.PRNGKey(0);
const keys = (n: number, seed = 1): PRNGKey[] => random.split(random.PRNGKey(seed), n);
const val = (t: tf.Tensor) => t.dataSync()[0]!;
const arr = (t: tf.Tensor) => Array.from(t.dataSync());

function tasks(): [string, Task<unknown, unknown>, unknown][] {
  const fam = new FixedDimQuadraticFamilyData(4);
  const dataTask = fam.sampleTask(random.PRNGKey(3));
  return [
    ['QuadraticTask', new QuadraticTask(), undefined],
    ['BatchQuadraticTask', new BatchQuadraticTask(), undefined],
    ['LogQuadraticTask', new LogQuadraticTask(), undefined],
    ['SumQuadraticTask', new SumQuadraticTask(), undefined],
    ['FixedDimQuadraticFamily', new FixedDimQuadraticFamily(5).sampleTask(random.PRNGKey(2)), undefined],
    ['FixedDimQuadraticFamilyData', dataTask, tf.scalar(0.25)],
    // No gradient noise here: with noise the gradient differs from the value's on purpose.
    ['NoisyQuadraticFamily', new NoisyQuadraticFamily(6, 0).sampleTask(random.PRNGKey(4)), undefined],
  ] as [string, Task<unknown, unknown>, unknown][];
}

describe('quadratic losses', () => {
  test('values match hand-computed float64 references', () => {
    const p = tf.tensor1d([1, -2, 0.5, 3, 0, 0, 0, 0, 0, 0]);
    expect(val(new QuadraticTask().loss(p, key))).toBeCloseTo(1 + 4 + 0.25 + 9, 5);
    expect(val(new LogQuadraticTask().loss(p, key))).toBeCloseTo(Math.log(14.25), 5);
    const a = tf.tensor1d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const b = tf.tensor1d([-1, -1, -1, -1, -1, -1, -1, -1, -1, -1]);
    // sum((a + b)^2) = sum_{k=0}^{9} k^2 = 285
    expect(val(new SumQuadraticTask().loss({ a, b }, key))).toBeCloseTo(285, 4);
    const fam = new FixedDimQuadraticFamily(3);
    const t = fam.taskFn([1, 2, 3]);
    expect(val(t.loss(tf.tensor1d([0, 0, 1]), key))).toBeCloseTo(1 + 4 + 4, 5);
    const td = new FixedDimQuadraticFamilyData(3).taskFn([1, 2, 3]);
    expect(val(td.loss(tf.tensor1d([0, 0, 1]), key, tf.scalar(-0.5)))).toBeCloseTo(8.5, 5);
    const noisy = new NoisyQuadraticFamily(2, 0.5).taskFn({ center: [1, -1], scale: [2, 3] });
    // The gradient noise adds nothing to the value: (2 * (1 - 0))^2 + (3 * (-1 - 1))^2 = 40.
    expect(val(noisy.loss(tf.tensor1d([0, 1]), key))).toBeCloseTo(40, 4);
  });

  test('init draws the reference shapes, deterministic per key', () => {
    expect(new QuadraticTask(7).init(key).shape).toEqual([7]);
    expect(new LogQuadraticTask().init(key).shape).toEqual([10]);
    const s = new SumQuadraticTask().init(key);
    expect(treeMap((x) => x.shape, s)).toEqual({ a: [10], b: [10] });
    expect(arr(new QuadraticTask().init(key))).toEqual(arr(new QuadraticTask().init(key)));
    expect(arr(s.a)).not.toEqual(arr(s.b));
  });

  test.each(tasks().map(([n]) => n))('%s: gradient matches central finite differences', (name) => {
    const [, task, data] = tasks().find(([n]) => n === name)!;
    const params = task.init(random.PRNGKey(5));
    const err = finiteDifferenceError((p) => task.loss(p, key, data), params, 4, 1e-2);
    expect(err).toBeLessThan(2e-3);
  });

  test('NoisyQuadraticFamily: the gradient carries the keyed noise, the value does not', () => {
    const task = new NoisyQuadraticFamily(3, 0.5).taskFn({ center: [0, 0, 0], scale: [1, 1, 1] });
    const p = tf.tensor1d([1, 2, 3]);
    const [l1, g1] = valueAndGrad(task.loss)(p, random.PRNGKey(1));
    const [l2, g2] = valueAndGrad(task.loss)(p, random.PRNGKey(2));
    expect(val(l1)).toBeCloseTo(14, 4);
    expect(val(l2)).toBeCloseTo(14, 4);
    // d/dp [p^2 + 0.5 * n * p] = 2p + 0.5 n, with n the key's normal draws.
    const n = arr(random.normal(random.PRNGKey(1), [3]));
    arr(g1).forEach((g, i) => expect(g).toBeCloseTo(2 * (i + 1) + 0.5 * n[i]!, 4));
    expect(arr(g1)).not.toEqual(arr(g2));
    // Batched: member i's gradient noise comes from keys[i].
    const ks = [random.PRNGKey(1), random.PRNGKey(2)];
    const [, gb] = valueAndGrad((s: tf.Tensor) => tf.sum(batchedLoss(task, s, ks, undefined)) as tf.Scalar)(
      tf.stack([p, p]),
    );
    const rows = gb.arraySync() as unknown as number[][];
    rows[0]!.forEach((g, i) => expect(g).toBeCloseTo(arr(g1)[i]!, 4));
    rows[1]!.forEach((g, i) => expect(g).toBeCloseTo(arr(g2)[i]!, 4));
  });

  test.each(tasks().map(([n]) => n))('%s: batched loss equals the loop of single losses', (name) => {
    const [, task, data] = tasks().find(([n]) => n === name)!;
    const ks = keys(3);
    const members = ks.map((k) => task.init(k));
    const stacked = stackParams(members);
    const batched = arr(batchedLoss(task, stacked, ks, data));
    const looped = members.map((p, i) => val(task.loss(p, ks[i]!, data)));
    batched.forEach((b, i) => expect(b).toBeCloseTo(looped[i]!, 4));
  });
});

describe('quadratic families', () => {
  test('sample is deterministic per key and returns plain data', () => {
    const fams = [new FixedDimQuadraticFamily(4), new FixedDimQuadraticFamilyData(4), new NoisyQuadraticFamily(4, 0.1)];
    for (const f of fams) {
      const a = f.sample(random.PRNGKey(11));
      const b = f.sample(random.PRNGKey(11));
      const c = f.sample(random.PRNGKey(12));
      expect(JSON.parse(JSON.stringify(a))).toEqual(a);
      expect(a).toEqual(b);
      expect(a).not.toEqual(c);
    }
    const cfg = new NoisyQuadraticFamily(4, 0.1).sample(random.PRNGKey(1));
    expect(cfg.scale.every((s) => s >= 0 && s < 25)).toBe(true);
  });

  test('data streams are deterministic per key and shaped as the reference', () => {
    const t = new BatchQuadraticTask();
    const b1 = t.datasets!.train.next().value as unknown as tf.Tensor;
    expect(b1.shape).toEqual([4, 2]);
    const b2 = new BatchQuadraticTask().datasets!.train.next().value as unknown as tf.Tensor;
    expect(arr(b1)).toEqual(arr(b2));
    const fam = new FixedDimQuadraticFamilyData(2);
    const n = fam.datasets!.train.next().value as unknown as tf.Tensor;
    expect(n.shape).toEqual([]);
    const task = fam.sampleTask(key);
    const [l, aux] = task.lossAndAux(tf.tensor1d([1, -3]), key, n);
    expect(val(aux.l2!)).toBeCloseTo(5, 5);
    expect(val(aux.l1!)).toBeCloseTo(2, 5);
    expect(val(l)).toBeGreaterThan(-100);
    expect(arr(task.normalizer(tf.tensor1d([-1, 5, 2000])))).toEqual([0, 5, 1000]);
  });

  test('methods work unbound', () => {
    const fam = new FixedDimQuadraticFamily(3);
    const { sampleTask } = fam;
    const task = sampleTask(key);
    const { loss, init } = task;
    const [l, g] = valueAndGrad(loss)(init(key), key, undefined);
    expect(l.shape).toEqual([]);
    expect(g.shape).toEqual([3]);
  });
});

describe('bad input', () => {
  test('params of another shape or structure name the problem', () => {
    const q = new QuadraticTask(10);
    expect(() => q.loss(tf.zeros([3]), key)).toThrow(/params has shape \[3\] but this task expects \[10\]/);
    const s = new SumQuadraticTask();
    expect(() => s.loss({ a: tf.zeros([10]) } as never, key)).toThrow(/missing \[b\]/);
    expect(() => new FixedDimQuadraticFamily(3).taskFn([1, 2])).toThrow(/2 entries, expected 3/);
    const td = new FixedDimQuadraticFamilyData(2).taskFn([1, 2]);
    expect(() => td.loss(tf.zeros([2]), key, tf.zeros([3]))).toThrow(/data should be a scalar/);
    expect(() => batchedLoss(q, tf.zeros([2, 10]), keys(3), undefined)).toThrow(/2 parameter sets but 3 keys/);
  });
});
