import * as tf from '@tensorflow/tfjs-core';
import { randomBits, threefryHash } from './threefry.js';

/**
 * A PRNG key as in JAX: two 32-bit words. Keys are plain data (not tensors), so they
 * never need disposing and give the same numbers on every backend.
 */
export type PRNGKey = Uint32Array & { readonly __prngKey: true };

function asKey(words: Uint32Array): PRNGKey {
  return words as PRNGKey;
}

/** True when `x` is a PRNG key. */
export function isPRNGKey(x: unknown): x is PRNGKey {
  return x instanceof Uint32Array && x.length === 2;
}

function checkKey(key: unknown, fn: string): asserts key is PRNGKey {
  if (!isPRNGKey(key)) {
    throw new TypeError(
      `random.${fn}: expected a PRNG key (from random.PRNGKey(seed) or random.split), got ${String(key)}`,
    );
  }
}

function checkShape(shape: readonly number[], fn: string): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`random.${fn}: invalid shape [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

/** A key from an integer seed, as `jax.random.PRNGKey(seed)`: `[seed >> 32, seed & 0xffffffff]`. */
export function PRNGKey(seed: number): PRNGKey {
  if (!Number.isSafeInteger(seed)) throw new Error(`random.PRNGKey: the seed must be an integer, got ${seed}`);
  const hi = seed < 0 ? 0xffffffff : Math.floor(seed / 2 ** 32) >>> 0;
  return asKey(Uint32Array.of(hi, seed >>> 0));
}

/** Splits a key into `num` new independent keys (JAX's original, non-partitionable split). */
export function split(key: PRNGKey, num = 2): PRNGKey[] {
  checkKey(key, 'split');
  if (!Number.isInteger(num) || num < 1) throw new Error(`random.split: num must be a positive integer, got ${num}`);
  const count = new Uint32Array(2 * num);
  for (let i = 0; i < count.length; i++) count[i] = i;
  const bits = threefryHash(key[0]!, key[1]!, count);
  const keys: PRNGKey[] = [];
  for (let i = 0; i < num; i++) keys.push(asKey(bits.slice(2 * i, 2 * i + 2)));
  return keys;
}

/** A new key derived from `key` and an integer, as `jax.random.fold_in`. */
export function foldIn(key: PRNGKey, data: number): PRNGKey {
  checkKey(key, 'foldIn');
  if (!Number.isInteger(data)) throw new Error(`random.foldIn: data must be an integer, got ${data}`);
  const seed = PRNGKey(data);
  return asKey(threefryHash(key[0]!, key[1]!, Uint32Array.of(seed[0]!, seed[1]!)));
}

/** `n` raw 32-bit words drawn from `key` (JAX's `random_bits` with 32-bit width). */
export function bits(key: PRNGKey, n: number): Uint32Array {
  checkKey(key, 'bits');
  return randomBits(key[0]!, key[1]!, n);
}

/** 2^-23, the spacing of float32 values in [1, 2). */
const MANTISSA_ULP = 2 ** -23;

/** Floats in [0, 1) from random words: 23 mantissa bits, as JAX builds them. */
function uniformArray(key: PRNGKey, n: number, minval: number, maxval: number): Float32Array {
  const b = randomBits(key[0]!, key[1]!, n);
  const out = new Float32Array(n);
  const lo = Math.fround(minval);
  const span = Math.fround(Math.fround(maxval) - lo);
  for (let i = 0; i < n; i++) {
    // The float 1.mantissa minus 1 is exactly mantissa * 2^-23.
    const u = (b[i]! >>> 9) * MANTISSA_ULP;
    out[i] = Math.max(lo, Math.fround(Math.fround(u * span) + lo));
  }
  return out;
}

/** Uniform floats in `[minval, maxval)` of the given shape, as `jax.random.uniform`. */
export function uniform(key: PRNGKey, shape: readonly number[] = [], minval = 0, maxval = 1): tf.Tensor {
  checkKey(key, 'uniform');
  const n = checkShape(shape, 'uniform');
  return tf.tensor(uniformArray(key, n, minval, maxval), shape.slice(), 'float32');
}

/**
 * The inverse error function in single precision (M. Giles, "Approximating the erfinv
 * function", 2010), the approximation XLA uses for `erf_inv`.
 */
export function erfinv(x: number): number {
  let w = -Math.log((1 - x) * (1 + x));
  let p: number;
  if (w < 5) {
    w -= 2.5;
    p = 2.81022636e-8;
    p = 3.43273939e-7 + p * w;
    p = -3.5233877e-6 + p * w;
    p = -4.39150654e-6 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
  } else {
    w = Math.sqrt(w) - 3;
    p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
  }
  return Math.abs(x) === 1 ? x * Infinity : p * x;
}

/** The error function to double precision (W. J. Cody's rational approximations via erfc). */
export function erf(x: number): number {
  // Series for small |x|, continued fraction (Lentz) for the tail; both converge to ~1e-15.
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let sum = x;
    let term = x;
    const x2 = x * x;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(ax) = exp(-ax^2)/sqrt(pi) * 1/(ax + 1/2/(ax + 1/(ax + 3/2/(ax + ...))))
  let f = ax;
  for (let k = 60; k >= 1; k--) f = ax + k / 2 / f;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

const SQRT2 = Math.SQRT2;

/** Standard normal floats of the given shape, as `jax.random.normal`. */
export function normal(key: PRNGKey, shape: readonly number[] = []): tf.Tensor {
  checkKey(key, 'normal');
  const n = checkShape(shape, 'normal');
  // JAX draws u in (-1, 1) (the low end nudged above -1) and returns sqrt(2) * erfinv(u).
  const lo = -0.9999999403953552; // nextafter(-1f, 0f)
  const u = uniformArray(key, n, lo, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = SQRT2 * erfinv(u[i]!);
  return tf.tensor(out, shape.slice(), 'float32');
}

/** Normal floats truncated to `(lower, upper)`, as `jax.random.truncated_normal`. */
export function truncatedNormal(key: PRNGKey, lower: number, upper: number, shape: readonly number[] = []): tf.Tensor {
  checkKey(key, 'truncatedNormal');
  const n = checkShape(shape, 'truncatedNormal');
  return tf.tensor(truncatedNormalArray(key, lower, upper, n), shape.slice(), 'float32');
}

/**
 * As `truncatedNormal`, `n` values as a plain `Float32Array`, each times `scale` in
 * float32 (as a float32 tensor times the scalar `scale` would give them, on any backend):
 * a weight initialiser draws and scales in one pass, without a tensor op.
 */
export function truncatedNormalArray(key: PRNGKey, lower: number, upper: number, n: number, scale = 1): Float32Array {
  checkKey(key, 'truncatedNormal');
  if (!(lower < upper)) throw new Error(`random.truncatedNormal: lower (${lower}) must be below upper (${upper})`);
  if (!Number.isInteger(n) || n < 0) throw new Error(`random.truncatedNormal: invalid size ${n}`);
  // uniformArray's floats in (erf(lower / sqrt 2), erf(upper / sqrt 2)), inlined: one pass,
  // no intermediate array.
  const b = randomBits(key[0]!, key[1]!, n);
  const ulo = Math.fround(erf(lower / SQRT2));
  const span = Math.fround(Math.fround(erf(upper / SQRT2)) - ulo);
  const lo = Math.fround(lower) + Math.abs(Math.fround(lower)) * 2 ** -23 || 1e-45;
  const hi = Math.fround(upper) - Math.abs(Math.fround(upper)) * 2 ** -23 || -1e-45;
  const s = Math.fround(scale);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u01 = (b[i]! >>> 9) * MANTISSA_ULP;
    const u = Math.max(ulo, Math.fround(Math.fround(u01 * span) + ulo));
    const x = Math.fround(Math.min(hi, Math.max(lo, SQRT2 * erfinv(u))));
    out[i] = s === 1 ? x : x * s;
  }
  return out;
}

/** Uniform integers in `[minval, maxval)` (int32), drawn from two words per element as JAX does. */
export function randint(key: PRNGKey, shape: readonly number[], minval: number, maxval: number): tf.Tensor {
  checkKey(key, 'randint');
  if (!Number.isInteger(minval) || !Number.isInteger(maxval) || maxval <= minval) {
    throw new Error(`random.randint: need integers minval < maxval, got [${minval}, ${maxval})`);
  }
  const n = checkShape(shape, 'randint');
  return tf.tensor(randintArray(key, n, minval, maxval), shape.slice(), 'int32');
}

/** As `randint`, as a plain `Int32Array`. */
export function randintArray(key: PRNGKey, n: number, minval: number, maxval: number): Int32Array {
  const [k1, k2] = split(key);
  const hi = randomBits(k1![0]!, k1![1]!, n);
  const lo = randomBits(k2![0]!, k2![1]!, n);
  const span = BigInt(maxval - minval);
  // (2^32 mod span) folds the high word in, so the 64-bit draw is reduced without bias.
  const mult = (1n << 32n) % span;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const off = ((BigInt(hi[i]!) % span) * mult + (BigInt(lo[i]!) % span)) % span;
    out[i] = minval + Number(off);
  }
  return out;
}

/** Booleans that are true with probability `p`, as `jax.random.bernoulli`. */
export function bernoulli(key: PRNGKey, p = 0.5, shape: readonly number[] = []): tf.Tensor {
  checkKey(key, 'bernoulli');
  const n = checkShape(shape, 'bernoulli');
  const u = uniformArray(key, n, 0, 1);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = u[i]! < p ? 1 : 0;
  return tf.tensor(out, shape.slice(), 'bool');
}

/** Positions below this fit beside a 32-bit word in a double's 53-bit mantissa. */
const PACKED_SORT_MAX = 2 ** 21;

/**
 * A random permutation of `0..n-1` as a plain array: JAX's sort-based shuffle (a few
 * rounds of sorting by fresh random words, enough rounds for `n`).
 */
export function permutationIndices(key: PRNGKey, n: number): Int32Array {
  checkKey(key, 'permutation');
  if (!Number.isInteger(n) || n < 0) throw new Error(`random.permutation: n must be a non-negative integer, got ${n}`);
  const rounds = Math.ceil((3 * Math.log(Math.max(1, n))) / Math.log(2 ** 32 - 1));
  let idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  let k = key;
  for (let r = 0; r < rounds; r++) {
    const [next, sub] = split(k);
    k = next!;
    const sortKeys = randomBits(sub![0]!, sub![1]!, n);
    const nextIdx = new Int32Array(n);
    if (n <= PACKED_SORT_MAX) {
      // Each (word, position) pair packed into one exact double, word first: a typed-array
      // sort without a comparator orders them as the comparator below does, many times faster.
      const packed = new Float64Array(n);
      for (let i = 0; i < n; i++) packed[i] = sortKeys[i]! * PACKED_SORT_MAX + i;
      packed.sort();
      for (let i = 0; i < n; i++) nextIdx[i] = idx[packed[i]! % PACKED_SORT_MAX]!;
    } else {
      const order = Array.from({ length: n }, (_, i) => i);
      order.sort((a, b) => sortKeys[a]! - sortKeys[b]! || a - b);
      for (let i = 0; i < n; i++) nextIdx[i] = idx[order[i]!]!;
    }
    idx = nextIdx;
  }
  return idx;
}

/** A random permutation of `0..n-1` as an int32 tensor, as `jax.random.permutation(key, n)`. */
export function permutation(key: PRNGKey, n: number): tf.Tensor1D {
  return tf.tensor1d(permutationIndices(key, n), 'int32');
}
