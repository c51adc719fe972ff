import { type PyTree, random, type TreeDef, treeDispose, treeFlatten, treeUnflatten } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { LearnedOptimizer } from './learned-optimizer.js';

/** Identifies a theta file. */
export const THETA_FORMAT = 'lopt-theta';
/** The current version of the theta format. */
export const THETA_FORMAT_VERSION = 1;

/** One leaf of a saved theta. */
export interface ThetaFileLeaf {
  /** Where the leaf sits, e.g. `.mlp[0].w`. */
  path: string;
  /** Its shape. */
  shape: number[];
  /** Always `float32` in version 1. */
  dtype: 'float32';
  /** The values, little-endian float32 bytes in base64. */
  data: string;
}

/**
 * The JSON document `saveTheta` writes: the learned optimizer's name, the theta tree's
 * structure (`@lopt/pytree`'s `TreeDef`) and every leaf with its path and shape.
 */
export interface ThetaFile {
  /** Always `'lopt-theta'`. */
  format: typeof THETA_FORMAT;
  /** Format version (1). */
  version: number;
  /** `name` of the learned optimizer the theta belongs to. */
  learnedOptimizer: string;
  /** The structure of the theta tree. */
  treeDef: TreeDef;
  /** The leaves in flattening order (object keys sorted). */
  leaves: ThetaFileLeaf[];
}

function leafPaths(def: TreeDef, prefix = ''): string[] {
  switch (def.kind) {
    case 'leaf':
      return [prefix || '<root>'];
    case 'none':
      return [];
    case 'array':
      return def.children.flatMap((c, i) => leafPaths(c, `${prefix}[${i}]`));
    case 'object':
      return def.children.flatMap((c, i) => leafPaths(c, `${prefix}.${def.keys[i]}`));
  }
}

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function littleEndianBytes(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return out;
}

/**
 * Serialises `theta` of `lopt` to the theta JSON document (see `ThetaFile`). Works in
 * browsers and Node; `saveTheta` writes it to a file. Throws on a non-tensor or
 * non-float32 leaf.
 */
export function serializeTheta<T>(theta: T, lopt: LearnedOptimizer<T>): string {
  const [leaves, treeDef] = treeFlatten(theta as PyTree<unknown>);
  const paths = leafPaths(treeDef);
  const out: ThetaFile = {
    format: THETA_FORMAT,
    version: THETA_FORMAT_VERSION,
    learnedOptimizer: lopt.name,
    treeDef,
    leaves: leaves.map((l, i) => {
      if (!(l instanceof tf.Tensor)) throw new Error(`serializeTheta: theta leaf ${paths[i]} is not a tensor`);
      if (l.dtype !== 'float32') throw new Error(`serializeTheta: theta leaf ${paths[i]} is ${l.dtype}, not float32`);
      return {
        path: paths[i]!,
        shape: l.shape.slice(),
        dtype: 'float32',
        data: toBase64(littleEndianBytes(l.dataSync() as Float32Array)),
      };
    }),
  };
  return JSON.stringify(out);
}

/**
 * Reads a theta document written by `serializeTheta` for `lopt`. Throws a clear error
 * when the text is not a theta document, when it belongs to another learned optimizer
 * (both names are given), when its structure or a leaf's shape differs from what
 * `lopt.init` makes (path and both shapes are given), or when data is corrupt.
 * `source` names the file in messages.
 */
export function deserializeTheta<T>(text: string, lopt: LearnedOptimizer<T>, source = 'theta'): T {
  let doc: ThetaFile;
  try {
    doc = JSON.parse(text) as ThetaFile;
  } catch (e) {
    throw new Error(`loadTheta: ${source} is not valid JSON (${(e as Error).message})`);
  }
  if (doc === null || typeof doc !== 'object' || doc.format !== THETA_FORMAT) {
    throw new Error(`loadTheta: ${source} is not a lopt theta file (no "format": "${THETA_FORMAT}")`);
  }
  if (doc.version !== THETA_FORMAT_VERSION) {
    throw new Error(
      `loadTheta: ${source} has format version ${doc.version}; this version reads ${THETA_FORMAT_VERSION}`,
    );
  }
  if (doc.learnedOptimizer !== lopt.name) {
    throw new Error(
      `loadTheta: ${source} holds a theta of '${doc.learnedOptimizer}', but it is being loaded for '${lopt.name}'`,
    );
  }
  // The expected structure and shapes, from a fresh init.
  const fresh = lopt.init(random.PRNGKey(0));
  const [expLeaves, expDef] = treeFlatten(fresh as PyTree<unknown>);
  const expShapes: number[][] = expLeaves.map((l) => (l instanceof tf.Tensor ? l.shape.slice() : []));
  treeDispose(fresh);
  const expPaths = leafPaths(expDef);
  const gotPaths = Array.isArray(doc.leaves) ? doc.leaves.map((l) => l.path) : [];
  if (JSON.stringify(doc.treeDef) !== JSON.stringify(expDef) || gotPaths.join('|') !== expPaths.join('|')) {
    const missing = expPaths.filter((p) => !gotPaths.includes(p));
    const extra = gotPaths.filter((p) => !expPaths.includes(p));
    throw new Error(
      `loadTheta: ${source} has a theta structure that does not match ${lopt.name}` +
        (missing.length ? `; missing leaves [${missing.join(', ')}]` : '') +
        (extra.length ? `; unexpected leaves [${extra.join(', ')}]` : ''),
    );
  }
  const tensors = doc.leaves.map((leaf, i) => {
    const want = expShapes[i]!;
    if (!Array.isArray(leaf.shape) || leaf.shape.join(',') !== want.join(',')) {
      throw new Error(
        `loadTheta: ${source} leaf ${leaf.path} has shape [${leaf.shape}] in the file, but ${lopt.name} expects [${want.join(', ')}]`,
      );
    }
    const size = want.reduce((a, b) => a * b, 1);
    const bytes = fromBase64(leaf.data);
    if (bytes.length !== size * 4) {
      throw new Error(
        `loadTheta: ${source} leaf ${leaf.path} holds ${bytes.length} bytes, expected ${size * 4} (corrupt file)`,
      );
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const values = new Float32Array(size);
    for (let j = 0; j < size; j++) {
      values[j] = view.getFloat32(j * 4, true);
      if (!Number.isFinite(values[j]!))
        throw new Error(`loadTheta: ${source} leaf ${leaf.path} holds a non-finite value at index ${j}`);
    }
    return tf.tensor(values, want, 'float32');
  });
  return treeUnflatten(expDef, tensors) as T;
}
