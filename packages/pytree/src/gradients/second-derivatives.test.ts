/**
 * Second derivatives of every op meta-gradients rely on, checked against central finite
 * differences computed in float64 on a plain-JavaScript reference of the same op.
 *
 * For an op `y = op(x1..xn)` the test uses the scalar F(x) = sum(w * y) + 0.5 * sum(y^2),
 * whose Hessian involves both the op's first and second derivatives, and compares the
 * directional second derivative u'Hv taken by tfjs (grad of <grad F, v>, dotted with u)
 * with the float64 four-point difference of F. The first derivative u'grad F is checked too.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { grad } from '../autodiff.js';
import { setupBackend } from '../backend.js';
import { logSoftmax } from '../ops.js';
import * as random from '../random.js';

interface Arr {
  data: Float64Array;
  shape: number[];
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const arr = (shape: number[], fill: (i: number) => number = () => 0): Arr => ({
  data: Float64Array.from({ length: size(shape) }, (_, i) => fill(i)),
  shape,
});
const map = (a: Arr, f: (v: number, i: number) => number): Arr => ({ data: a.data.map(f), shape: a.shape });
const zip = (a: Arr, b: Arr, f: (x: number, y: number) => number): Arr => {
  if (b.data.length === 1) return map(a, (x) => f(x, b.data[0]!));
  return map(a, (x, i) => f(x, b.data[i]!));
};
const strides = (shape: readonly number[]) => {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!;
  return s;
};
const unravelIndex = (i: number, shape: readonly number[]) => {
  const st = strides(shape);
  return shape.map((_, d) => Math.floor(i / st[d]!) % shape[d]!);
};
const ravelIndex = (idx: readonly number[], shape: readonly number[]) => {
  const st = strides(shape);
  return idx.reduce((acc, v, d) => acc + v * st[d]!, 0);
};

function refMatMul(a: Arr, b: Arr): Arr {
  const [m, k] = a.shape as [number, number];
  const n = b.shape[1]!;
  return arr([m, n], (i) => {
    const r = Math.floor(i / n);
    const c = i % n;
    let s = 0;
    for (let j = 0; j < k; j++) s += a.data[r * k + j]! * b.data[j * n + c]!;
    return s;
  });
}

function refReduce(a: Arr, axis: number, f: (vals: number[]) => number): Arr {
  const outShape = a.shape.filter((_, d) => d !== axis);
  return arr(outShape, (i) => {
    const idx = unravelIndex(i, outShape);
    const vals: number[] = [];
    for (let j = 0; j < a.shape[axis]!; j++) {
      const full = [...idx.slice(0, axis), j, ...idx.slice(axis)];
      vals.push(a.data[ravelIndex(full, a.shape)]!);
    }
    return f(vals);
  });
}

function refLogSoftmax(a: Arr): Arr {
  const n = a.shape[a.shape.length - 1]!;
  return map(a, (v, i) => {
    const row = Math.floor(i / n);
    let m = -Infinity;
    for (let j = 0; j < n; j++) m = Math.max(m, a.data[row * n + j]!);
    let s = 0;
    for (let j = 0; j < n; j++) s += Math.exp(a.data[row * n + j]! - m);
    return v - m - Math.log(s);
  });
}

function refTranspose(a: Arr, perm: number[]): Arr {
  const outShape = perm.map((p) => a.shape[p]!);
  return arr(outShape, (i) => {
    const idx = unravelIndex(i, outShape);
    const src = new Array<number>(perm.length);
    perm.forEach((p, d) => {
      src[p] = idx[d]!;
    });
    return a.data[ravelIndex(src, a.shape)]!;
  });
}

/** NHWC conv with HWIO filter, TF 'same'/'valid' padding. */
function refConv2d(x: Arr, f: Arr, stride: number, pad: 'same' | 'valid'): Arr {
  const [n, h, w, cin] = x.shape as [number, number, number, number];
  const [kh, kw, , cout] = f.shape as [number, number, number, number];
  const outH = pad === 'same' ? Math.ceil(h / stride) : Math.ceil((h - kh + 1) / stride);
  const outW = pad === 'same' ? Math.ceil(w / stride) : Math.ceil((w - kw + 1) / stride);
  const padTop = pad === 'same' ? Math.floor(Math.max((outH - 1) * stride + kh - h, 0) / 2) : 0;
  const padLeft = pad === 'same' ? Math.floor(Math.max((outW - 1) * stride + kw - w, 0) / 2) : 0;
  const outShape = [n, outH, outW, cout];
  return arr(outShape, (i) => {
    const [b, oy, ox, co] = unravelIndex(i, outShape) as [number, number, number, number];
    let s = 0;
    for (let dy = 0; dy < kh; dy++) {
      for (let dx = 0; dx < kw; dx++) {
        const iy = oy * stride + dy - padTop;
        const ix = ox * stride + dx - padLeft;
        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
        for (let ci = 0; ci < cin; ci++) {
          s += x.data[ravelIndex([b, iy, ix, ci], x.shape)]! * f.data[ravelIndex([dy, dx, ci, co], f.shape)]!;
        }
      }
    }
    return s;
  });
}

function refAvgPool(x: Arr, k: number): Arr {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const outShape = [n, Math.floor(h / k), Math.floor(w / k), c];
  return arr(outShape, (i) => {
    const [b, oy, ox, ch] = unravelIndex(i, outShape) as [number, number, number, number];
    let s = 0;
    for (let dy = 0; dy < k; dy++)
      for (let dx = 0; dx < k; dx++) s += x.data[ravelIndex([b, oy * k + dy, ox * k + dx, ch], x.shape)]!;
    return s / (k * k);
  });
}

interface Case {
  name: string;
  shapes: number[][];
  /** Maps a standard-normal draw into the op's domain, away from kinks. */
  domain?: (z: number) => number;
  op: (...xs: tf.Tensor[]) => tf.Tensor;
  ref: (...xs: Arr[]) => Arr;
}

const positive = (z: number) => 0.5 + Math.abs(z);
const awayFromZero = (z: number) => (z >= 0 ? 0.2 + z : -0.2 + z);
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

const cases: Case[] = [
  {
    name: 'matMul',
    shapes: [
      [3, 4],
      [4, 2],
    ],
    op: (a, b) => tf.matMul(a!, b!),
    ref: refMatMul,
  },
  {
    name: 'matMul (transposed)',
    shapes: [
      [4, 3],
      [2, 4],
    ],
    op: (a, b) => tf.matMul(a!, b!, true, true),
    ref: (a, b) => refMatMul(refTranspose(a, [1, 0]), refTranspose(b, [1, 0])),
  },
  {
    name: 'add',
    shapes: [
      [2, 3],
      [2, 3],
    ],
    op: (a, b) => tf.add(a!, b!),
    ref: (a, b) => zip(a, b, (x, y) => x + y),
  },
  {
    name: 'sub',
    shapes: [
      [2, 3],
      [2, 3],
    ],
    op: (a, b) => tf.sub(a!, b!),
    ref: (a, b) => zip(a, b, (x, y) => x - y),
  },
  {
    name: 'mul',
    shapes: [
      [2, 3],
      [2, 3],
    ],
    op: (a, b) => tf.mul(a!, b!),
    ref: (a, b) => zip(a, b, (x, y) => x * y),
  },
  {
    name: 'mul (broadcast scalar)',
    shapes: [[2, 3], []],
    op: (a, b) => tf.mul(a!, b!),
    ref: (a, b) => zip(a, b, (x, y) => x * y),
  },
  {
    name: 'div',
    shapes: [
      [2, 3],
      [2, 3],
    ],
    domain: positive,
    op: (a, b) => tf.div(a!, b!),
    ref: (a, b) => zip(a, b, (x, y) => x / y),
  },
  { name: 'square', shapes: [[5]], op: (a) => tf.square(a!), ref: (a) => map(a, (v) => v * v) },
  { name: 'sqrt', shapes: [[5]], domain: positive, op: (a) => tf.sqrt(a!), ref: (a) => map(a, Math.sqrt) },
  {
    name: 'rsqrt',
    shapes: [[5]],
    domain: positive,
    op: (a) => tf.rsqrt(a!),
    ref: (a) => map(a, (v) => 1 / Math.sqrt(v)),
  },
  { name: 'exp', shapes: [[5]], op: (a) => tf.exp(a!), ref: (a) => map(a, Math.exp) },
  { name: 'log', shapes: [[5]], domain: positive, op: (a) => tf.log(a!), ref: (a) => map(a, Math.log) },
  { name: 'log1p', shapes: [[5]], domain: positive, op: (a) => tf.log1p(a!), ref: (a) => map(a, Math.log1p) },
  {
    name: 'pow (tensor exponent)',
    shapes: [[4], [4]],
    domain: positive,
    op: (a, b) => tf.pow(a!, b!),
    ref: (a, b) => zip(a, b, (x, y) => x ** y),
  },
  {
    name: 'pow (constant exponent)',
    shapes: [[4]],
    domain: positive,
    op: (a) => tf.pow(a!, 2.5),
    ref: (a) => map(a, (v) => v ** 2.5),
  },
  {
    name: 'relu',
    shapes: [[6]],
    domain: awayFromZero,
    op: (a) => tf.relu(a!),
    ref: (a) => map(a, (v) => Math.max(v, 0)),
  },
  { name: 'tanh', shapes: [[5]], op: (a) => tf.tanh(a!), ref: (a) => map(a, Math.tanh) },
  { name: 'sigmoid', shapes: [[5]], op: (a) => tf.sigmoid(a!), ref: (a) => map(a, sigmoid) },
  { name: 'softplus', shapes: [[5]], op: (a) => tf.softplus(a!), ref: (a) => map(a, (v) => Math.log1p(Math.exp(v))) },
  { name: 'abs', shapes: [[6]], domain: awayFromZero, op: (a) => tf.abs(a!), ref: (a) => map(a, Math.abs) },
  {
    name: 'sign (times x)',
    shapes: [[6]],
    domain: awayFromZero,
    op: (a) => tf.mul(tf.sign(a!), tf.square(a!)),
    ref: (a) => map(a, (v) => Math.sign(v) * v * v),
  },
  {
    name: 'clipByValue',
    shapes: [[8]],
    domain: (z) => (Math.abs(Math.abs(z) - 0.5) < 0.1 ? z + 0.3 : z),
    op: (a) => tf.clipByValue(a!, -0.5, 0.5),
    ref: (a) => map(a, (v) => Math.min(0.5, Math.max(-0.5, v))),
  },
  {
    name: 'where',
    shapes: [[6], [6]],
    op: (a, b) => tf.where(tf.tensor1d([true, false, true, true, false, false], 'bool'), a!, b!),
    ref: (a, b) => map(a, (v, i) => ([true, false, true, true, false, false][i] ? v : b.data[i]!)),
  },
  {
    name: 'mean',
    shapes: [[3, 4]],
    op: (a) => tf.mean(a!, 1),
    ref: (a) => refReduce(a, 1, (v) => v.reduce((s, x) => s + x, 0) / v.length),
  },
  {
    name: 'sum',
    shapes: [[3, 4]],
    op: (a) => tf.sum(a!, 0),
    ref: (a) => refReduce(a, 0, (v) => v.reduce((s, x) => s + x, 0)),
  },
  { name: 'max', shapes: [[3, 4]], op: (a) => tf.max(a!, 1), ref: (a) => refReduce(a, 1, (v) => Math.max(...v)) },
  { name: 'logSoftmax', shapes: [[3, 5]], op: (a) => logSoftmax(a!), ref: refLogSoftmax },
  {
    name: 'softmax cross-entropy',
    shapes: [[4, 3]],
    op: (a) => tf.neg(tf.sum(tf.mul(tf.oneHot(tf.tensor1d([0, 2, 1, 2], 'int32'), 3), logSoftmax(a!)), 1)),
    ref: (a) => {
      const ls = refLogSoftmax(a);
      return arr([4], (i) => -ls.data[i * 3 + [0, 2, 1, 2][i]!]!);
    },
  },
  {
    name: 'reshape',
    shapes: [[2, 6]],
    op: (a) => tf.reshape(a!, [3, 4]),
    ref: (a) => ({ data: a.data, shape: [3, 4] }),
  },
  {
    name: 'transpose',
    shapes: [[2, 3, 4]],
    op: (a) => tf.transpose(a!, [2, 0, 1]),
    ref: (a) => refTranspose(a, [2, 0, 1]),
  },
  {
    name: 'concat',
    shapes: [
      [2, 3],
      [2, 2],
    ],
    op: (a, b) => tf.concat([a!, b!], 1),
    ref: (a, b) =>
      arr([2, 5], (i) =>
        i % 5 < 3 ? a.data[Math.floor(i / 5) * 3 + (i % 5)]! : b.data[Math.floor(i / 5) * 2 + (i % 5) - 3]!,
      ),
  },
  {
    name: 'slice',
    shapes: [[4, 5]],
    op: (a) => tf.slice(a!, [1, 2], [2, 3]),
    ref: (a) => arr([2, 3], (i) => a.data[(1 + Math.floor(i / 3)) * 5 + 2 + (i % 3)]!),
  },
  {
    name: 'gather',
    shapes: [[5, 3]],
    op: (a) => tf.gather(a!, tf.tensor1d([4, 0, 4, 2], 'int32')),
    ref: (a) => arr([4, 3], (i) => a.data[[4, 0, 4, 2][Math.floor(i / 3)]! * 3 + (i % 3)]!),
  },
  {
    name: 'softmax',
    shapes: [[3, 5]],
    op: (a) => tf.softmax(a!),
    ref: (a) => map(refLogSoftmax(a), Math.exp),
  },
  {
    name: 'layer norm (mean, variance, rsqrt)',
    shapes: [[3, 4]],
    op: (a) => {
      const c = tf.sub(a!, tf.mean(a!, -1, true));
      return tf.mul(c, tf.rsqrt(tf.add(tf.mean(tf.square(c), -1, true), 1e-5)));
    },
    ref: (a) =>
      map(a, (v, i) => {
        const row = a.data.slice(Math.floor(i / 4) * 4, Math.floor(i / 4) * 4 + 4);
        const m = row.reduce((s, x) => s + x, 0) / 4;
        const varc = row.reduce((s, x) => s + (x - m) ** 2, 0) / 4;
        return (v - m) / Math.sqrt(varc + 1e-5);
      }),
  },
  {
    name: 'tile',
    shapes: [[2, 3]],
    op: (a) => tf.tile(a!, [2, 3]),
    ref: (a) => arr([4, 9], (i) => a.data[(Math.floor(i / 9) % 2) * 3 + ((i % 9) % 3)]!),
  },
  {
    name: 'split (gates)',
    shapes: [[2, 4]],
    op: (a) => {
      const [p, q] = tf.split(a!, [2, 2], 1);
      return tf.mul(tf.sigmoid(p!), tf.tanh(q!));
    },
    ref: (a) =>
      arr(
        [2, 2],
        (i) =>
          sigmoid(a.data[Math.floor(i / 2) * 4 + (i % 2)]!) * Math.tanh(a.data[Math.floor(i / 2) * 4 + 2 + (i % 2)]!),
      ),
  },
  {
    name: 'unstack and stack (time steps)',
    shapes: [[3, 2]],
    op: (a) => {
      const [r0, r1, r2] = tf.unstack(a!);
      return tf.stack([tf.mul(r0!, r1!), tf.tanh(r2!)], 1);
    },
    ref: (a) =>
      arr([2, 2], (i) =>
        i % 2 === 0
          ? a.data[Math.floor(i / 2)]! * a.data[2 + Math.floor(i / 2)]!
          : Math.tanh(a.data[4 + Math.floor(i / 2)]!),
      ),
  },
  {
    name: 'batched matMul (rank 4, transposed b: attention scores)',
    shapes: [
      [2, 2, 3, 4],
      [2, 2, 5, 4],
    ],
    op: (a, b) => tf.matMul(a!, b!, false, true),
    ref: (a, b) =>
      arr([2, 2, 3, 5], (i) => {
        const [n, h, r, c] = unravelIndex(i, [2, 2, 3, 5]) as [number, number, number, number];
        let s = 0;
        for (let k = 0; k < 4; k++)
          s += a.data[ravelIndex([n, h, r, k], a.shape)]! * b.data[ravelIndex([n, h, c, k], b.shape)]!;
        return s;
      }),
  },
  {
    name: 'conv2d (stride 2, same)',
    shapes: [
      [1, 5, 5, 2],
      [3, 3, 2, 3],
    ],
    op: (x, f) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 2, 'same'),
    ref: (x, f) => refConv2d(x, f, 2, 'same'),
  },
  {
    name: 'conv2d (stride 1, valid)',
    shapes: [
      [2, 4, 4, 1],
      [3, 3, 1, 2],
    ],
    op: (x, f) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'valid'),
    ref: (x, f) => refConv2d(x, f, 1, 'valid'),
  },
  {
    name: 'avgPool',
    shapes: [[1, 4, 4, 2]],
    op: (x) => tf.avgPool(x as tf.Tensor4D, 2, 2, 'valid'),
    ref: (x) => refAvgPool(x, 2),
  },
];

function draw(key: random.PRNGKey, shape: number[], domain?: (z: number) => number): Float64Array {
  const t = random.normal(key, shape);
  const vals = Float64Array.from(t.dataSync(), (z) => Math.fround(domain ? domain(z) : z));
  t.dispose();
  return vals;
}

describe.each(['wasm', 'cpu'])('second derivatives match float64 finite differences (%s)', (backend) => {
  let previous = '';
  beforeAll(async () => {
    previous = tf.getBackend();
    await setupBackend(backend);
  });
  afterAll(async () => {
    await setupBackend(previous);
  });
  for (const [ci, c] of cases.entries()) {
    test(c.name, () => {
      const keys = random.split(random.PRNGKey(100 + ci), 4 * c.shapes.length + 1);
      const xs = c.shapes.map((s, i) => draw(keys[i]!, s, c.domain));
      const us = c.shapes.map((s, i) => draw(keys[c.shapes.length + i]!, s));
      const vs = c.shapes.map((s, i) => draw(keys[2 * c.shapes.length + i]!, s));
      const outShape = c.ref(...xs.map((d, i) => ({ data: d, shape: c.shapes[i]! }))).shape;
      const w = draw(keys[keys.length - 1]!, outShape);

      // float64 reference
      const F64 = (delta: (i: number) => Float64Array) => {
        const y = c.ref(...xs.map((d, i) => ({ data: d.map((v, j) => v + delta(i)[j]!), shape: c.shapes[i]! })));
        let s = 0;
        y.data.forEach((v, j) => {
          s += w[j]! * v + 0.5 * v * v;
        });
        return s;
      };
      const h = 1e-4;
      const comb = (a: number, b: number) => (i: number) => us[i]!.map((u, j) => h * (a * u + b * vs[i]![j]!));
      const uHvRef = (F64(comb(1, 1)) - F64(comb(1, -1)) - F64(comb(-1, 1)) + F64(comb(-1, -1))) / (4 * h * h);
      const uGradRef = (F64(comb(1, 0)) - F64(comb(-1, 0))) / (2 * h);

      // tfjs, float32
      const before = tf.memory().numTensors;
      const [uHv, uGrad] = tf.tidy(() => {
        const tx = xs.map((d, i) => tf.tensor(Float32Array.from(d), c.shapes[i]!));
        const tu = us.map((d, i) => tf.tensor(Float32Array.from(d), c.shapes[i]!));
        const tv = vs.map((d, i) => tf.tensor(Float32Array.from(d), c.shapes[i]!));
        const tw = tf.tensor(Float32Array.from(w), outShape);
        const F = (inputs: tf.Tensor[]) => {
          const y = c.op(...inputs);
          return tf.add(tf.sum(tf.mul(tw, y)), tf.mul(0.5, tf.sum(tf.square(y)))) as tf.Scalar;
        };
        const dot = (a: tf.Tensor[], b: tf.Tensor[]) => tf.addN(a.map((t, i) => tf.sum(tf.mul(t, b[i]!)))) as tf.Scalar;
        const gradF = grad(F);
        const Gv = (inputs: tf.Tensor[]) => dot(gradF(inputs), tv);
        const hv = grad(Gv)(tx);
        return [dot(hv, tu).dataSync()[0]!, dot(gradF(tx), tu).dataSync()[0]!];
      });
      expect(tf.memory().numTensors).toBe(before);
      const tol = (ref: number) => 2e-3 * Math.abs(ref) + 2e-3;
      expect(Math.abs(uGrad - uGradRef)).toBeLessThan(tol(uGradRef));
      expect(Math.abs(uHv - uHvRef)).toBeLessThan(tol(uHvRef));
    });
  }
});
