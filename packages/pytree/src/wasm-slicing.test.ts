import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { setupBackend } from './backend.js';
import { setFastPathsEnabled } from './fast-op.js';
import { registerWasmSlicing } from './wasm-slicing.js';

// The kernels are wasm's: this file runs on wasm whatever the leg's backend, and puts that back.
const initial = tf.getBackend();
beforeAll(async () => {
  await setupBackend('wasm');
});
afterAll(async () => {
  await setupBackend(initial);
});

/** Runs `f` once with the replacement kernels and once with tfjs-backend-wasm's own. */
function bothWays<T>(f: () => T): { ours: T; stock: T } {
  const ours = f();
  const was = setFastPathsEnabled(false);
  try {
    return { ours, stock: f() };
  } finally {
    setFastPathsEnabled(was);
  }
}

/** Distinct values with a fixed pattern, so any misplaced element shows. */
function pattern(shape: number[], dtype: 'float32' | 'int32' | 'bool'): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (dtype === 'bool')
    return tf.tensor(
      Uint8Array.from({ length: n }, (_, i) => ((i * 7) % 3 === 0 ? 1 : 0)),
      shape,
      'bool',
    );
  const vals = Array.from({ length: n }, (_, i) => (dtype === 'int32' ? i * 3 - 50 : Math.fround(i * 0.37 - 5.5)));
  return tf.tensor(vals, shape, dtype);
}

const bits = (t: tf.Tensor) => Array.from(new Uint8Array(t.dataSync().buffer.slice(0)));

test('setupBackend replaces the four kernels, once', () => {
  const before = ['Slice', 'Unpack', 'SplitV', 'Concat'].map((k) => tf.getKernel(k, 'wasm')!.kernelFunc);
  registerWasmSlicing();
  const after = ['Slice', 'Unpack', 'SplitV', 'Concat'].map((k) => tf.getKernel(k, 'wasm')!.kernelFunc);
  expect(after).toEqual(before);
  // With fast paths off the stock kernels run: the comparisons below compare two different kernels.
  const x = pattern([3, 4], 'float32');
  const { ours, stock } = bothWays(() => tf.slice(x, [1, 1], [2, 2]));
  expect(bits(ours)).toEqual(bits(stock));
  tf.dispose([x, ours, stock]);
});

test('slice gives the stock kernel bit for bit: every rank 1-5, contiguous and strided, float32, int32, bool', () => {
  const start = tf.memory().numTensors;
  const cases: [number[], number[], number[]][] = [
    [[7], [2], [4]],
    [[7], [0], [-1]],
    [
      [4, 5],
      [1, 0],
      [2, 5],
    ], // contiguous rows
    [
      [4, 5],
      [1, 2],
      [3, 2],
    ], // strided
    [
      [3, 4, 5],
      [1, 1, 1],
      [2, 3, 3],
    ],
    [
      [3, 4, 5],
      [2, 0, 0],
      [1, 4, 5],
    ],
    [
      [2, 3, 4, 5],
      [1, 0, 2, 1],
      [1, 3, 2, 4],
    ],
    [
      [2, 3, 2, 3, 4],
      [0, 1, 1, 0, 1],
      [2, 2, 1, 3, 2],
    ],
    [
      [3, 4],
      [1, 1],
      [0, 3],
    ], // empty
  ];
  for (const dtype of ['float32', 'int32', 'bool'] as const) {
    for (const [shape, begin, size] of cases) {
      const x = pattern(shape, dtype);
      const { ours, stock } = bothWays(() => tf.slice(x, begin, size));
      expect(ours.shape).toEqual(stock.shape);
      expect(ours.dtype).toBe(dtype);
      expect(bits(ours), `${dtype} ${shape} ${begin} ${size}`).toEqual(bits(stock));
      tf.dispose([x, ours, stock]);
    }
  }
  expect(tf.memory().numTensors).toBe(start);
});

test('unstack and split give the stock kernels bit for bit, on every axis', () => {
  const start = tf.memory().numTensors;
  const x = pattern([4, 3, 5], 'float32');
  for (const axis of [0, 1, 2, -1]) {
    const { ours, stock } = bothWays(() => tf.unstack(x, axis));
    expect(ours.length).toBe(stock.length);
    ours.forEach((t, i) => {
      expect(t.shape).toEqual(stock[i]!.shape);
      expect(bits(t)).toEqual(bits(stock[i]!));
    });
    tf.dispose([...ours, ...stock]);
  }
  for (const [splits, axis] of [
    [[1, 3], 0],
    [[2, -1], 1],
    [5, 2],
    [[0, 5], 2],
  ] as [number | number[], number][]) {
    const { ours, stock } = bothWays(() => tf.split(x, splits, axis));
    expect(ours.map((t) => t.shape)).toEqual(stock.map((t) => t.shape));
    ours.forEach((t, i) => expect(bits(t)).toEqual(bits(stock[i]!)));
    tf.dispose([...ours, ...stock]);
  }
  tf.dispose(x);
  expect(tf.memory().numTensors).toBe(start);
});

test('concat gives the stock kernel bit for bit: every axis, rows of 1, a few and many elements, empty inputs, float32, int32, bool', () => {
  const start = tf.memory().numTensors;
  // Shapes of the inputs (equal but on the axis) and the axis.
  const cases: [number[][], number][] = [
    [[[5], [3], [1]], 0],
    [
      [
        [2, 3],
        [4, 3],
      ],
      0,
    ], // whole tensors one after another
    [
      [
        [4, 1],
        [4, 1],
        [4, 3],
        [4, 1],
      ],
      1,
    ], // per-element features: rows of 1 and 3
    [
      [
        [4, 1],
        [4, 1],
        [4, 3],
        [4, 1],
      ],
      -1,
    ],
    [
      [
        [3, 40],
        [3, 33],
        [3, 2],
      ],
      1,
    ], // rows of 32 or more
    [
      [
        [2, 3, 1],
        [2, 3, 2],
        [2, 3, 0],
        [2, 3, 5],
      ],
      2,
    ], // an empty input among them
    [
      [
        [2, 2, 3],
        [2, 1, 3],
        [2, 4, 3],
      ],
      1,
    ],
    [
      [
        [3, 2, 2, 1],
        [3, 2, 2, 3],
      ],
      3,
    ],
    [
      [
        [3, 2, 1, 2],
        [3, 2, 4, 2],
      ],
      -2,
    ],
    [
      [
        [2, 3],
        [2, 0],
      ],
      1,
    ], // one non-empty input
  ];
  for (const dtype of ['float32', 'int32', 'bool'] as const) {
    for (const [shapes, axis] of cases) {
      // Alternate signs, so that equal patterns in neighbouring inputs still differ.
      const ins = tf.tidy(() =>
        shapes.map((sh, i) => {
          const x = pattern(sh, dtype);
          if (dtype === 'bool') return i % 2 ? tf.logicalNot(x) : x;
          return i % 2 ? tf.neg(x) : x;
        }),
      );
      const { ours, stock } = bothWays(() => tf.concat(ins, axis));
      expect(ours.shape).toEqual(stock.shape);
      expect(ours.dtype).toBe(dtype);
      expect(bits(ours), `${dtype} ${JSON.stringify(shapes)} axis ${axis}`).toEqual(bits(stock));
      tf.dispose([...ins, ours, stock]);
    }
  }
  // Against values built by hand: rows of [a_i, b_i0, b_i1, c_i].
  const a = tf.tensor2d([1, 2, 3], [3, 1]);
  const b = tf.tensor2d([10, 11, 20, 21, 30, 31], [3, 2]);
  const c = tf.tensor2d([-1, -2, -3], [3, 1]);
  const abc = tf.concat([a, b, c], 1);
  expect(Array.from(abc.dataSync())).toEqual([1, 10, 11, -1, 2, 20, 21, -2, 3, 30, 31, -3]);
  tf.dispose([a, b, c, abc]);
  expect(tf.memory().numTensors).toBe(start);
});

test('the outputs own their data: later heap growth and disposing the input leave them intact', () => {
  const x = pattern([8, 6], 'float32');
  const want = Array.from(x.dataSync()).slice(6, 12);
  const [, row] = tf.unstack(x);
  x.dispose();
  // Grow the heap (a view into the old buffer would be detached by now).
  const big = tf.zeros([4 << 20]);
  expect(Array.from(row!.dataSync())).toEqual(want);
  tf.dispose([big, row!]);
});

test('gradients through unstack and slice are unchanged', () => {
  const x = pattern([3, 4], 'float32');
  const f = (v: tf.Tensor) =>
    tf.add(tf.sum(tf.mul(tf.unstack(v)[1]!, tf.tensor1d([1, 2, 3, 4]))), tf.sum(tf.slice(v, [0, 1], [2, 2])));
  const { ours, stock } = bothWays(() => tf.grad(f)(x));
  // d/dx: row 1 gets [1, 2, 3, 4]; the 2x2 block at (0, 1) gets 1 more.
  expect(Array.from(ours.dataSync())).toEqual([0, 1, 1, 0, 1, 3, 4, 4, 0, 0, 0, 0]);
  expect(bits(ours)).toEqual(bits(stock));
  tf.dispose([x, ours, stock]);
});
