import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import { setupBackend } from './backend.js';
import * as random from './random.js';

const arr = (t: tf.Tensor) => Array.from(t.dataSync());

describe('PRNG keys', () => {
  test('PRNGKey and split match JAX (threefry, non-partitionable)', () => {
    expect(Array.from(random.PRNGKey(0))).toEqual([0, 0]);
    expect(Array.from(random.PRNGKey(42))).toEqual([0, 42]);
    const [a, b] = random.split(random.PRNGKey(0));
    // jax.random.split(jax.random.PRNGKey(0)) with jax_threefry_partitionable=False.
    expect(Array.from(a!)).toEqual([4146024105, 967050713]);
    expect(Array.from(b!)).toEqual([2718843009, 1272950319]);
    expect(random.split(random.PRNGKey(0), 3)).toHaveLength(3);
  });

  test('uniform and normal match JAX for PRNGKey(0)', () => {
    const key = random.PRNGKey(0);
    // jax.random.uniform(PRNGKey(0)) and jax.random.normal(PRNGKey(0), (3,)).
    const u = random.uniform(key);
    expect(u.dataSync()[0]).toBeCloseTo(0.41845703, 7);
    const n = random.normal(key, [3]);
    const nv = arr(n);
    [1.8160863, -0.48262316, 0.33988908].forEach((v, i) => expect(nv[i]).toBeCloseTo(v, 5));
    tf.dispose([u, n]);
  });

  test('same key, same numbers; different keys, different numbers', () => {
    const k = random.PRNGKey(7);
    const [k1, k2] = random.split(k);
    const x1 = random.normal(k1!, [100]);
    const x1b = random.normal(k1!, [100]);
    const x2 = random.normal(k2!, [100]);
    expect(arr(x1)).toEqual(arr(x1b));
    expect(arr(x1)).not.toEqual(arr(x2));
    const m = arr(x1).reduce((a, b) => a + b, 0) / 100;
    expect(Math.abs(m)).toBeLessThan(0.4);
    tf.dispose([x1, x1b, x2]);
  });

  test('foldIn, randint, bernoulli, truncatedNormal, permutation', () => {
    const k = random.PRNGKey(3);
    expect(Array.from(random.foldIn(k, 1))).not.toEqual(Array.from(random.foldIn(k, 2)));
    expect(Array.from(random.foldIn(k, 1))).toEqual(Array.from(random.foldIn(k, 1)));
    const r = random.randint(k, [1000], -3, 5);
    const rv = arr(r);
    expect(Math.min(...rv)).toBe(-3);
    expect(Math.max(...rv)).toBe(4);
    expect(r.dtype).toBe('int32');
    const bern = random.bernoulli(k, 0.25, [4000]);
    const frac = arr(bern).reduce((a, b) => a + b, 0) / 4000;
    expect(frac).toBeGreaterThan(0.22);
    expect(frac).toBeLessThan(0.28);
    const tn = random.truncatedNormal(k, -2, 2, [5000]);
    const tv = arr(tn);
    expect(Math.min(...tv)).toBeGreaterThan(-2);
    expect(Math.max(...tv)).toBeLessThan(2);
    // The variance of a standard normal truncated to [-2, 2] is 0.7737.
    const variance = tv.reduce((a, b) => a + b * b, 0) / tv.length;
    expect(variance).toBeGreaterThan(0.74);
    expect(variance).toBeLessThan(0.81);
    const p = random.permutationIndices(k, 1000);
    expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(Array.from(p)).not.toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(Array.from(random.permutationIndices(k, 1000))).toEqual(Array.from(p));
    tf.dispose([r, bern, tn]);
  });

  test('truncatedNormalArray is the two-pass draw (uniform words, erfinv, clamp) times a float32 scale', () => {
    // The reference: uniform floats built from the words' bits as float32 1.mantissa - 1,
    // then sqrt(2) erfinv clamped inside the bounds, then scaled by a float32 multiply.
    const reference = (key: random.PRNGKey, lower: number, upper: number, n: number, scale: number) => {
      const words = random.bits(key, n);
      const f = new Float32Array(1);
      const w = new Uint32Array(f.buffer);
      const ulo = Math.fround(random.erf(lower / Math.SQRT2));
      const span = Math.fround(Math.fround(random.erf(upper / Math.SQRT2)) - ulo);
      const lo = Math.fround(lower) + Math.abs(Math.fround(lower)) * 2 ** -23 || 1e-45;
      const hi = Math.fround(upper) - Math.abs(Math.fround(upper)) * 2 ** -23 || -1e-45;
      const out = new Float32Array(n);
      const draws = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        w[0] = (words[i]! >>> 9) | 0x3f800000;
        const u = Math.max(ulo, Math.fround(Math.fround(Math.fround(f[0]! - 1) * span) + ulo));
        draws[i] = Math.min(hi, Math.max(lo, Math.SQRT2 * random.erfinv(u)));
      }
      for (let i = 0; i < n; i++) out[i] = Math.fround(draws[i]! * Math.fround(scale));
      return out;
    };
    const k = random.PRNGKey(11);
    for (const [lower, upper, n, scale] of [
      [-2, 2, 4099, 1],
      [-2, 2, 2048, 1 / 8],
      [-1.5, 0.5, 1001, 0.17677669529663687],
      [0, 3, 7, 3],
    ] as const) {
      expect(Array.from(random.truncatedNormalArray(k, lower, upper, n, scale))).toEqual(
        Array.from(reference(k, lower, upper, n, scale)),
      );
    }
    // Scaling in JavaScript gives the backend's float32 product.
    const t = random.truncatedNormal(k, -2, 2, [300]);
    const scaled = tf.mul(t, 0.125 / 3);
    expect(Array.from(random.truncatedNormalArray(k, -2, 2, 300, 0.125 / 3))).toEqual(arr(scaled));
    tf.dispose([t, scaled]);
    expect(() => random.truncatedNormalArray(k, 1, 1, 3)).toThrow(/below upper/);
    expect(() => random.truncatedNormalArray(k, -2, 2, 1.5)).toThrow(/invalid size/);
  });

  test('permutationIndices is the stable sort by fresh random words, round by round', () => {
    // The reference: each round orders the positions by (word, position) with a comparator.
    const reference = (key: random.PRNGKey, n: number) => {
      const rounds = Math.ceil((3 * Math.log(n)) / Math.log(2 ** 32 - 1));
      let idx = Array.from({ length: n }, (_, i) => i);
      let k = key;
      for (let r = 0; r < rounds; r++) {
        const [next, sub] = random.split(k);
        k = next!;
        const words = random.bits(sub!, n);
        const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => words[a]! - words[b]! || a - b);
        idx = order.map((i) => idx[i]!);
      }
      return idx;
    };
    // 70000 positions (a Fashion-MNIST epoch and more): two rounds, and likely a tie of words.
    for (const [seed, n] of [
      [5, 70000],
      [6, 3],
      [7, 1],
    ] as const) {
      const k = random.PRNGKey(seed);
      expect(Array.from(random.permutationIndices(k, n))).toEqual(reference(k, n));
    }
  });

  test('pinned outputs are the same on the cpu and wasm backends', async () => {
    const k = random.PRNGKey(123);
    const draw = () => {
      const n = random.normal(k, [4]);
      const u = random.uniform(k, [2, 2], -1, 1);
      const out = [...arr(n), ...arr(u)];
      tf.dispose([n, u]);
      return out;
    };
    const initial = tf.getBackend();
    await setupBackend('cpu');
    const onCpu = draw();
    await setupBackend('wasm');
    const onWasm = draw();
    await setupBackend(initial);
    expect(onCpu).toEqual(onWasm);
    expect(onCpu.every(Number.isFinite)).toBe(true);
  });

  test('bad keys and arguments are rejected clearly', () => {
    expect(() => random.split(new Uint32Array(3) as random.PRNGKey)).toThrow(/expected a PRNG key/);
    expect(() => random.normal([1, 2] as unknown as random.PRNGKey, [2])).toThrow(/expected a PRNG key/);
    expect(() => random.PRNGKey(1.5)).toThrow(/integer/);
    expect(() => random.randint(random.PRNGKey(0), [2], 3, 3)).toThrow(/minval < maxval/);
    expect(() => random.uniform(random.PRNGKey(0), [-1])).toThrow(/invalid shape/);
  });
});
