/**
 * Threefry-2x32 with 20 rounds (Salmon et al., 2011), the counter-based generator behind
 * JAX's PRNG keys. Pure 32-bit integer arithmetic in JavaScript, so the same key gives
 * the same bits on every backend and in every browser.
 */

/**
 * Hashes counter pairs `(x0[i], x1[i])` under the key `(k0, k1)`, writing the result in
 * place. Matches JAX's `threefry2x32_p`: five blocks of four rounds (rotations 13 15 26 6,
 * then 17 29 16 24, alternating), the key injected after each block. Spelled out, with
 * the rotations as constants: keys, splits and every random draw go through here.
 * The words are held as int32 (`| 0`), whose bits are the uint32 words': V8 then runs
 * the arithmetic on machine integers, about three times faster than on `>>> 0` words,
 * which leave its small-integer range and fall back to doubles.
 */
export function threefry2x32(k0: number, k1: number, x0: Uint32Array, x1: Uint32Array): void {
  const ka = k0 | 0;
  const kb = k1 | 0;
  const kc = (k0 ^ k1 ^ 0x1bd11bda) | 0;
  for (let i = 0; i < x0.length; i++) {
    let a = (x0[i]! + ka) | 0;
    let b = (x1[i]! + kb) | 0;
    a = (a + b) | 0;
    b = (((b << 13) | (b >>> 19)) ^ a) | 0;
    a = (a + b) | 0;
    b = (((b << 15) | (b >>> 17)) ^ a) | 0;
    a = (a + b) | 0;
    b = (((b << 26) | (b >>> 6)) ^ a) | 0;
    a = (a + b) | 0;
    b = (((b << 6) | (b >>> 26)) ^ a) | 0;
    a = (a + kb) | 0;
    b = (b + kc + 1) | 0;
    a = (a + b) | 0;
    b = (((b << 17) | (b >>> 15)) ^ a) | 0;
    a = (a + b) | 0;
    b = (((b << 29) | (b >>> 3)) ^ a) | 0;
    a = (a + b) | 0;
    b = (((b << 16) | (b >>> 16)) ^ a) | 0;
    a = (a + b) | 0;
    b = (((b << 24) | (b >>> 8)) ^ a) | 0;
    a = (a + kc) | 0;
    b = (b + ka + 2) | 0;
    a = (a + b) | 0;
    b = (((b << 13) | (b >>> 19)) ^ a) | 0;
    a = (a + b) | 0;
    b = (((b << 15) | (b >>> 17)) ^ a) | 0;
    a = (a + b) | 0;
    b = (((b << 26) | (b >>> 6)) ^ a) | 0;
    a = (a + b) | 0;
    b = (((b << 6) | (b >>> 26)) ^ a) | 0;
    a = (a + ka) | 0;
    b = (b + kb + 3) | 0;
    a = (a + b) | 0;
    b = (((b << 17) | (b >>> 15)) ^ a) | 0;
    a = (a + b) | 0;
    b = (((b << 29) | (b >>> 3)) ^ a) | 0;
    a = (a + b) | 0;
    b = (((b << 16) | (b >>> 16)) ^ a) | 0;
    a = (a + b) | 0;
    b = (((b << 24) | (b >>> 8)) ^ a) | 0;
    a = (a + kb) | 0;
    b = (b + kc + 4) | 0;
    a = (a + b) | 0;
    b = (((b << 13) | (b >>> 19)) ^ a) | 0;
    a = (a + b) | 0;
    b = (((b << 15) | (b >>> 17)) ^ a) | 0;
    a = (a + b) | 0;
    b = (((b << 26) | (b >>> 6)) ^ a) | 0;
    a = (a + b) | 0;
    b = (((b << 6) | (b >>> 26)) ^ a) | 0;
    a = (a + kc) | 0;
    b = (b + ka + 5) | 0;
    x0[i] = a;
    x1[i] = b;
  }
}

/**
 * JAX's `threefry_2x32(key, count)`: hashes a vector of counters by splitting it into
 * two halves (padding an odd length with one zero) and concatenating the two outputs.
 */
export function threefryHash(k0: number, k1: number, count: Uint32Array): Uint32Array {
  const n = count.length;
  const half = Math.ceil(n / 2);
  const x0 = new Uint32Array(half);
  const x1 = new Uint32Array(half);
  x0.set(count.subarray(0, half));
  x1.set(count.subarray(half));
  threefry2x32(k0, k1, x0, x1);
  const out = new Uint32Array(2 * half);
  out.set(x0, 0);
  out.set(x1, half);
  return n % 2 === 1 ? out.slice(0, n) : out;
}

/** `n` pseudo-random 32-bit words from a key: JAX's (non-partitionable) `random_bits`. */
export function randomBits(k0: number, k1: number, n: number): Uint32Array {
  const count = new Uint32Array(n);
  for (let i = 0; i < n; i++) count[i] = i;
  return threefryHash(k0, k1, count);
}
