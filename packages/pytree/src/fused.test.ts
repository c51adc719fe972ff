import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import { fastPathsActive } from './fast-op.js';
import {
  type DenseLayer,
  type Mat,
  registerFusedKernel,
  runFusedKernel,
  sharingTransposes,
  stackedFusedBody,
  transpose,
} from './fused.js';
import * as random from './random.js';

// A kernel whose body is one `ctx.mlp` call: its output must be the plain-op network's.
registerFusedKernel('LoptTestMlp', (ctx) => {
  const mat = (name: string): Mat => {
    const [rows, cols] = ctx.shape(name) as [number, number];
    return { data: ctx.input(name) as Float32Array, rows, cols };
  };
  const layers: DenseLayer[] = [0, 1, 2].map((l) => ({ w: mat(`w${l}`), b: ctx.input(`b${l}`) as Float32Array }));
  const y = ctx.mlp(mat('x'), layers);
  return [{ values: y.data, shape: [y.rows, y.cols] }];
});

describe('FusedContext.mlp', () => {
  // Runs where fused kernels are registered (cpu, wasm); elsewhere there is nothing to compare.
  test.skipIf(!fastPathsActive())('computes relu(relu(x w0 + b0) w1 + b1) w2 + b2 on the backend', () => {
    const k = random.split(random.PRNGKey(3), 7);
    const sizes = [5, 7, 6, 2];
    const inputs: Record<string, tf.Tensor> = { x: random.normal(k[0]!, [40, 5]) };
    for (let l = 0; l < 3; l++) {
      inputs[`w${l}`] = random.normal(k[1 + 2 * l]!, [sizes[l]!, sizes[l + 1]!]);
      inputs[`b${l}`] = random.normal(k[2 + 2 * l]!, [sizes[l + 1]!]);
    }
    const before = tf.memory().numTensors;
    const [got] = runFusedKernel('LoptTestMlp', inputs);
    expect(tf.memory().numTensors).toBe(before + 1);
    const want = tf.tidy(() => {
      let h = inputs.x!;
      for (let l = 0; l < 3; l++) {
        h = tf.add(tf.matMul(h, inputs[`w${l}`]!), inputs[`b${l}`]!);
        if (l < 2) h = tf.relu(h);
      }
      return h;
    });
    expect(got!.shape).toEqual([40, 2]);
    // Some hidden units are cut by the ReLUs, so both branches of the activation run.
    const a = got!.dataSync();
    const b = want.dataSync();
    b.forEach((v, i) => expect(Math.abs(a[i]! - v)).toBeLessThan(1e-5 * (1 + Math.abs(v))));
    tf.dispose([got!, want, ...Object.values(inputs)]);
  });
});

// A kernel returning `ctx.dense` of one layer, with and without the ReLU.
registerFusedKernel('LoptTestDense', (ctx) => {
  const mat = (name: string): Mat => {
    const [rows, cols] = ctx.shape(name) as [number, number];
    return { data: ctx.input(name) as Float32Array, rows, cols };
  };
  const layer: DenseLayer = { w: mat('w'), b: ctx.input('b') as Float32Array };
  return (['linear', 'relu'] as const).map((act) => {
    const y = ctx.dense(mat('x'), layer, act);
    return { values: y.data, shape: [y.rows, y.cols] };
  });
});

describe('FusedContext.dense', () => {
  test.skipIf(!fastPathsActive())('computes x w + b and relu(x w + b) on the backend', () => {
    const k = random.split(random.PRNGKey(4), 3);
    const inputs = {
      x: random.normal(k[0]!, [33, 9]),
      w: random.normal(k[1]!, [9, 6]),
      b: random.normal(k[2]!, [6]),
    };
    const before = tf.memory().numTensors;
    const [linear, relu] = runFusedKernel('LoptTestDense', inputs);
    expect(tf.memory().numTensors).toBe(before + 2);
    const z = tf.tidy(() => tf.add(tf.matMul(inputs.x, inputs.w), inputs.b));
    const r = tf.relu(z);
    expect(linear!.shape).toEqual([33, 6]);
    const [zl, rl, got, gotRelu] = [z, r, linear!, relu!].map((t) => t.dataSync());
    // Both signs occur, so the ReLU both passes and cuts.
    expect(zl!.some((v) => v > 0) && zl!.some((v) => v < 0)).toBe(true);
    zl!.forEach((v, i) => expect(Math.abs(got![i]! - v)).toBeLessThan(1e-5 * (1 + Math.abs(v))));
    rl!.forEach((v, i) => {
      expect(Math.abs(gotRelu![i]! - v)).toBeLessThan(1e-5 * (1 + Math.abs(v)));
      if (v === 0) expect(gotRelu![i] === 0).toBe(true);
    });
    tf.dispose([linear!, relu!, z, r, ...Object.values(inputs)]);
  });
});

describe('stackedFusedBody', () => {
  // The K-problem kernel made from a single-problem body (an MLP and an elementwise
  // output with a per-problem scale) gives exactly K single-problem calls' outputs.
  const single = (ctx: Parameters<Parameters<typeof registerFusedKernel>[1]>[0]) => {
    const mat = (name: string): Mat => {
      const [rows, cols] = ctx.shape(name) as [number, number];
      return { data: ctx.input(name) as Float32Array, rows, cols };
    };
    const layers: DenseLayer[] = [0, 1, 2].map((l) => ({ w: mat(`w${l}`), b: ctx.input(`b${l}`) as Float32Array }));
    const y = ctx.mlp(mat('x'), layers);
    const s = ctx.input('s')[0]!;
    const z = (ctx.input('x') as Float32Array).map((v) => v * s);
    return [
      { values: y.data, shape: [y.rows, y.cols] },
      { values: z, shape: ctx.shape('x') },
    ];
  };
  registerFusedKernel('LoptTestSingle', single);
  registerFusedKernel('LoptTestStacked', stackedFusedBody(single));

  test.skipIf(!fastPathsActive())('equals K calls of the single-problem kernel, stacked', () => {
    const K = 3;
    const k = random.split(random.PRNGKey(8), 8);
    const sizes = [4, 6, 5, 2];
    const inputs: Record<string, tf.Tensor> = {
      x: random.normal(k[0]!, [K, 9, 4]),
      s: tf.tensor2d([[0.5], [-2], [3]]),
    };
    for (let l = 0; l < 3; l++) {
      inputs[`w${l}`] = random.normal(k[1 + 2 * l]!, [K, sizes[l]!, sizes[l + 1]!]);
      inputs[`b${l}`] = random.normal(k[2 + 2 * l]!, [K, sizes[l + 1]!]);
    }
    const before = tf.memory().numTensors;
    const got = runFusedKernel('LoptTestStacked', inputs, { problems: K });
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(got.map((g) => g.shape)).toEqual([
      [K, 9, 2],
      [K, 9, 4],
    ]);
    for (let q = 0; q < K; q++) {
      const one = tf.tidy(() => {
        const sub: Record<string, tf.Tensor> = {};
        for (const [name, x] of Object.entries(inputs)) sub[name] = tf.squeeze(tf.slice(x, [q], [1]), [0]);
        return runFusedKernel('LoptTestSingle', sub).map((o) => o.dataSync());
      });
      got.forEach((g, j) => {
        const n = one[j]!.length;
        expect(Array.from(g.dataSync().subarray(q * n, (q + 1) * n))).toEqual(Array.from(one[j]!));
      });
    }
    expect(() => runFusedKernel('LoptTestStacked', inputs, { problems: 2 })).toThrow(/not 2 problems on axis 0/);
    for (const t of [...Object.values(inputs), ...got]) t.dispose();
    expect(tf.memory().numTensors).toBe(before - Object.keys(inputs).length);
  });
});

// A kernel multiplying its inputs transposed, through a context sharing its transposes.
const shared = new WeakMap<Mat, Mat>();
let sharedOperands: Mat[] = [];
registerFusedKernel('LoptTestSharedTransposes', (ctx) => {
  const mat = (name: string): Mat => {
    const [rows, cols] = ctx.shape(name) as [number, number];
    return { data: ctx.input(name) as Float32Array, rows, cols };
  };
  const a = mat('a');
  const b = mat('b');
  sharedOperands = [a, b];
  const s = sharingTransposes(ctx, shared);
  return [s.matMul(a, b, true, false), ctx.matMul(a, b, true, false), s.matMul(a, a, true, false)].map((y) => ({
    values: y.data,
    shape: [y.rows, y.cols],
  }));
});

describe('sharingTransposes', () => {
  test.skipIf(!fastPathsActive())('multiplies as the plain context does, transposing each operand once', () => {
    const k = random.split(random.PRNGKey(4), 2);
    const a = random.normal(k[0]!, [6, 3]);
    const b = random.normal(k[1]!, [6, 4]);
    const [viaShared, plain, other] = runFusedKernel('LoptTestSharedTransposes', { a, b });
    expect(Array.from(viaShared!.dataSync())).toEqual(Array.from(plain!.dataSync()));
    const want = tf.matMul(a, a, true, false);
    expect(other!.shape).toEqual([3, 3]);
    const w = want.dataSync();
    other!.dataSync().forEach((v, i) => expect(Math.abs(v - w[i]!)).toBeLessThan(1e-5 * (1 + Math.abs(w[i]!))));
    // The transposes are stored by operand, and a stored one is what the product uses.
    const [ma] = sharedOperands;
    const stored = shared.get(ma!)!;
    expect(Array.from(stored.data)).toEqual(Array.from(transpose(ma!).data));
    expect([stored.rows, stored.cols]).toEqual([3, 6]);
    expect(shared.get(sharedOperands[1]!)).toBeUndefined();
    tf.dispose([a, b, viaShared!, plain!, other!, want]);
  });
});

// A kernel writing its outputs in place: `2 * x + 1` and `x * x` into `ctx.output`s made
// before the input views are taken, a third output made and dropped, and (attrs.fail) a
// throw after the outputs are made.
registerFusedKernel('LoptTestInPlace', (ctx, attrs) => {
  const shape = ctx.shape('x');
  const a = ctx.output(shape);
  const b = ctx.output(shape);
  ctx.output([1000]);
  if (attrs.fail) throw new Error('test kernel failed');
  const x = ctx.inputView('x') as Float32Array;
  const av = a.values;
  const bv = b.values;
  for (let i = 0; i < x.length; i++) {
    av[i] = 2 * x[i]! + 1;
    bv[i] = x[i]! * x[i]!;
  }
  return [a, b];
});

describe('FusedContext.output and inputView', () => {
  const dataIds = () => (tf.engine().backend as unknown as { numDataIds(): number }).numDataIds();
  test.skipIf(!fastPathsActive())('write outputs in place, free the outputs not returned', () => {
    const x = random.normal(random.PRNGKey(5), [3, 70]);
    const before = tf.memory().numTensors;
    const ids = dataIds();
    const [a, b] = runFusedKernel('LoptTestInPlace', { x });
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(dataIds()).toBe(ids + 2);
    expect(a!.shape).toEqual([3, 70]);
    const xs = x.dataSync();
    const av = a!.dataSync();
    const bv = b!.dataSync();
    xs.forEach((v, i) => {
      expect(av[i]).toBe(Math.fround(2 * v + 1));
      expect(bv[i]).toBe(Math.fround(v * v));
    });
    tf.dispose([a!, b!, x]);
  });

  test.skipIf(!fastPathsActive())('free the outputs made when the body throws', () => {
    const x = random.normal(random.PRNGKey(6), [5]);
    const ids = dataIds();
    expect(() => runFusedKernel('LoptTestInPlace', { x }, { fail: true })).toThrow('test kernel failed');
    expect(dataIds()).toBe(ids);
    x.dispose();
  });
});

// A kernel that doubles its input in the wasm backend's memory when it has it (an output
// allocated there, scratch, and an output allocated but not returned), else in JavaScript.
let heapRuns = 0;
registerFusedKernel('LoptTestHeapDouble', (ctx) => {
  const shape = ctx.shape('x');
  const heap = ctx.heap;
  if (!heap) {
    const x = ctx.input('x') as Float32Array;
    return [{ values: x.map((v) => 2 * v), shape }];
  }
  heapRuns++;
  const n = shape.reduce((a, b) => a * b, 1);
  const { output, offset } = heap.output(shape);
  heap.output([1000]);
  const scratch = heap.scratch(4 * n);
  expect(scratch % 16).toBe(0);
  // Views after every allocation: one may have grown the memory.
  const f32 = new Float32Array(heap.memory.buffer);
  const from = heap.offset('x') >> 2;
  for (let i = 0; i < n; i++) f32[(scratch >> 2) + i] = 2 * f32[from + i]!;
  f32.copyWithin(offset >> 2, scratch >> 2, (scratch >> 2) + n);
  return [output];
});

describe('FusedContext.heap', () => {
  test.skipIf(!fastPathsActive())(
    'on wasm, reads inputs and writes outputs in the backend memory, freeing what it does not return',
    () => {
      const x = random.normal(random.PRNGKey(5), [7, 9]);
      const runsBefore = heapRuns;
      const before = tf.memory().numTensors;
      const bytesBefore = tf.memory().numBytes;
      const [y] = runFusedKernel('LoptTestHeapDouble', { x });
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(heapRuns - runsBefore).toBe(tf.getBackend() === 'wasm' ? 1 : 0);
      expect(Array.from(y!.dataSync())).toEqual(Array.from(x.dataSync()).map((v) => 2 * v));
      y!.dispose();
      expect(tf.memory().numBytes).toBe(bytesBefore);
      if (tf.getBackend() === 'wasm') {
        // The unreturned output's data is gone from the backend too.
        const backend = tf.backend() as unknown as { numDataIds(): number };
        const ids = backend.numDataIds();
        const [z] = runFusedKernel('LoptTestHeapDouble', { x });
        expect(backend.numDataIds()).toBe(ids + 1);
        z!.dispose();
      }
      x.dispose();
    },
  );
});
