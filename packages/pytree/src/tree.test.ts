import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import {
  assertSameStructure,
  tidy,
  treeAdd,
  treeDefEqual,
  treeDispose,
  treeDot,
  treeFlatten,
  treeLeaves,
  treeMap,
  treeNorm,
  treeScale,
  treeStructure,
  treeSub,
  treeUnflatten,
  treeZerosLike,
} from './tree.js';

const values = (t: tf.Tensor) => Array.from(t.dataSync());

describe('tree utilities', () => {
  test('flatten visits object keys in sorted order and unflatten rebuilds the tree', () => {
    const tree = { b: tf.scalar(2), a: [tf.scalar(1), { d: tf.scalar(4), c: tf.scalar(3) }], e: null };
    const [leaves, def] = treeFlatten(tree);
    expect(leaves.map((l) => l.dataSync()[0])).toEqual([1, 3, 4, 2]);
    const rebuilt = treeUnflatten<tf.Tensor, typeof tree>(def, leaves);
    expect(Object.keys(rebuilt).sort()).toEqual(['a', 'b', 'e']);
    expect(rebuilt.e).toBeNull();
    expect(values(rebuilt.a[0] as tf.Tensor)).toEqual([1]);
    expect(treeDefEqual(treeStructure(rebuilt), def)).toBe(true);
    expect(() => treeUnflatten(def, leaves.slice(1))).toThrow(/4 leaves but 3/);
    treeDispose(tree);
  });

  test('treeMap is n-ary and keeps the structure', () => {
    const p = { w: tf.tensor([1, 2]), b: [tf.scalar(3)] };
    const g = { w: tf.tensor([10, 20]), b: [tf.scalar(30)] };
    const out = treeMap((x, y) => tf.sub(x, tf.mul(0.1, y!)), p, g);
    expect(values(out.w)).toEqual([0, 0]);
    expect(values(out.b[0]!)).toEqual([0]);
    const shapes = treeMap((x) => x.shape, p);
    expect(shapes).toEqual({ b: [[]], w: [2] });
    treeDispose(p, g, out);
  });

  test('structure mismatches name the path', () => {
    const a = { layer: { w: tf.scalar(1), b: tf.scalar(2) } };
    const b = { layer: { w: tf.scalar(1) } };
    expect(() => treeMap((x, y) => tf.add(x, y!), a, b)).toThrow(/at \.layer: missing keys \[b\]/);
    expect(() => assertSameStructure([tf.scalar(1)], [tf.scalar(1), tf.scalar(2)])).toThrow(
      /at <root>: expected an array of length 1, got an array of length 2/,
    );
    expect(() => assertSameStructure({ x: tf.scalar(1) }, { x: [tf.scalar(1)] })).toThrow(
      /at \.x: expected a tensor of shape \[\], got an array of length 1/,
    );
    treeDispose(a, b);
  });

  test('arithmetic, dot and norm', () => {
    const a = { x: tf.tensor([1, 2]), y: tf.tensor([[3]]) };
    const b = { x: tf.tensor([4, 5]), y: tf.tensor([[6]]) };
    const before = tf.memory().numTensors;
    const sum = treeAdd(a, b);
    const diff = treeSub(a, b);
    const scaled = treeScale(2, a);
    const zeros = treeZerosLike(a);
    expect(values(sum.x)).toEqual([5, 7]);
    expect(values(diff.y)).toEqual([-3]);
    expect(values(scaled.x)).toEqual([2, 4]);
    expect(values(zeros.y)).toEqual([0]);
    const dot = treeDot(a, b);
    expect(dot.dataSync()[0]).toBeCloseTo(1 * 4 + 2 * 5 + 3 * 6, 5);
    const norm = treeNorm(a);
    expect(norm.dataSync()[0]).toBeCloseTo(Math.sqrt(1 + 4 + 9), 5);
    treeDispose(sum, diff, scaled, zeros, dot, norm);
    expect(tf.memory().numTensors).toBe(before);
    expect(treeLeaves(a)).toHaveLength(2);
    treeDispose(a, b);
    expect(a.x.isDisposed).toBe(true);
  });

  test('non-tensor leaves pass through treeFlatten', () => {
    const [leaves] = treeFlatten<unknown>({ n: 3, s: 'x', t: undefined });
    expect(leaves).toEqual([3, 'x']);
  });
});

test('tidy keeps the returned pytree and frees the rest', () => {
  const before = tf.memory().numTensors;
  const out = tidy(() => {
    const a = tf.scalar(1);
    const b = tf.add(a, 1);
    tf.mul(b, 3); // a temporary
    return { state: { x: b, iteration: 3 }, list: [tf.scalar(2)] };
  });
  expect(tf.memory().numTensors).toBe(before + 2);
  expect(out.state.iteration).toBe(3);
  expect(out.state.x.dataSync()[0]).toBe(2);
  treeDispose(out);
  expect(tf.memory().numTensors).toBe(before);
});
