import { type PRNGKey, random } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';

/** The weight initialisers the reference's parametric tasks sample from, in its order. */
export const SAMPLED_INITIALIZERS = [
  'orthogonal',
  'uniform_scale',
  'variance_scaling_truncated_normal',
  'variance_scaling_normal',
  'variance_scaling_uniform',
] as const;

/** The name of a sampled initialiser. */
export type InitializerName = (typeof SAMPLED_INITIALIZERS)[number];

/** A sampled initialiser: which one, and its scale (uniform in [0.5, 2) when sampled). */
export interface InitializerCfg {
  /** The initialiser. */
  name: InitializerName;
  /** Its scale. */
  scale: number;
}

/** Fan-in and fan-out as the reference computes them (conv kernels: receptive field times channels). */
function fans(shape: readonly number[]): [number, number] {
  if (shape.length < 1) return [1, 1];
  if (shape.length === 1) return [shape[0]!, shape[0]!];
  if (shape.length === 2) return [shape[0]!, shape[1]!];
  const rf = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return [shape.at(-2)! * rf, shape.at(-1)! * rf];
}

/** Q of the reduced QR of a row-major `m x n` matrix (m >= n), with R's diagonal made positive. */
function orthonormalColumns(a: Float64Array, m: number, n: number): Float64Array {
  // Modified Gram-Schmidt gives R a positive diagonal: the unique Q that sign-fixing targets.
  const q = Float64Array.from(a);
  for (let j = 0; j < n; j++) {
    for (let k = 0; k < j; k++) {
      let dot = 0;
      for (let i = 0; i < m; i++) dot += q[i * n + k]! * q[i * n + j]!;
      for (let i = 0; i < m; i++) q[i * n + j] = q[i * n + j]! - dot * q[i * n + k]!;
    }
    let norm = 0;
    for (let i = 0; i < m; i++) norm += q[i * n + j]! ** 2;
    norm = Math.sqrt(norm);
    for (let i = 0; i < m; i++) q[i * n + j] = q[i * n + j]! / norm;
  }
  return q;
}

/**
 * A scaled orthogonal matrix of `shape` (2-D `[fanIn, fanOut]`, the orthogonal axis last),
 * as the reference's `orth_init`: the Q factor of a standard normal matrix.
 */
export function orthogonalInit(key: PRNGKey, shape: readonly number[], scale = 1): tf.Tensor {
  const nRows = shape.at(-1)!;
  const nCols = shape.reduce((a, b) => a * b, 1) / nRows;
  const [m, n] = nRows > nCols ? [nRows, nCols] : [nCols, nRows];
  const z = random.normal(key, [m, n]);
  const q = orthonormalColumns(Float64Array.from(z.dataSync()), m, n);
  z.dispose();
  // Build M[r][c] (nRows x nCols) as the reference does, then move axis 0 last: out = M^T.
  const out = new Float32Array(nRows * nCols);
  for (let r = 0; r < nRows; r++) {
    for (let c = 0; c < nCols; c++) {
      // nRows < nCols: M = Q^T (Q is nCols x nRows); otherwise M = Q (nRows x nCols).
      const v = nRows < nCols ? q[c * n + r]! : q[r * n + c]!;
      out[c * nRows + r] = scale * v;
    }
  }
  return tf.tensor(out, shape.slice(), 'float32');
}

/** The weight for `cfg`: one of the reference's sampled initialisers with its scale. */
export function sampledInit(cfg: InitializerCfg, key: PRNGKey, shape: readonly number[]): tf.Tensor {
  const [fanIn] = fans(shape);
  const s = cfg.scale / Math.max(1, fanIn);
  switch (cfg.name) {
    case 'orthogonal':
      return orthogonalInit(key, shape, cfg.scale);
    case 'uniform_scale': {
      const inputSize = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      const max = Math.sqrt(3 / inputSize) * cfg.scale;
      return random.uniform(key, shape, -max, max);
    }
    case 'variance_scaling_truncated_normal':
      // 0.8796... is the standard deviation of a unit normal truncated to [-2, 2].
      return tf.tidy(() => tf.mul(random.truncatedNormal(key, -2, 2, shape), Math.sqrt(s) / 0.87962566103423978));
    case 'variance_scaling_normal':
      return tf.tidy(() => tf.mul(random.normal(key, shape), Math.sqrt(s)));
    case 'variance_scaling_uniform': {
      const limit = Math.sqrt(3 * s);
      return random.uniform(key, shape, -limit, limit);
    }
  }
}

/** Samples an initialiser as the reference's `SampleInitializer.sample`: index, then scale in [0.5, 2). */
export function sampleInitializer(key: PRNGKey): InitializerCfg {
  const [k0, k1] = random.split(key);
  const index = random.randintArray(k0!, 1, 0, SAMPLED_INITIALIZERS.length)[0]!;
  const u = random.uniform(k1!, [], 0.5, 2);
  const scale = u.dataSync()[0]!;
  u.dispose();
  return { name: SAMPLED_INITIALIZERS[index]!, scale };
}
