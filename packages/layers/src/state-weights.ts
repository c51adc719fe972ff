import { isPlainObject } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';

/** A leaf of an optimizer state with its path (`.optaxOptState[0].mu[1]`). */
export interface PathLeaf {
  path: string;
  leaf: unknown;
}

/**
 * The leaves of `tree` with their paths, in the order `treeFlatten` uses (object keys
 * sorted); `null` and `undefined` are empty subtrees.
 */
export function leavesWithPaths(tree: unknown): PathLeaf[] {
  const out: PathLeaf[] = [];
  const visit = (node: unknown, path: string) => {
    if (node === null || node === undefined) return;
    if (Array.isArray(node)) {
      node.forEach((c, i) => visit(c, `${path}[${i}]`));
      return;
    }
    if (isPlainObject(node)) {
      for (const k of Object.keys(node).sort()) visit(node[k], `${path}.${k}`);
      return;
    }
    out.push({ path, leaf: node });
  };
  visit(tree, '');
  return out;
}

/** `tree` with the leaf at each path replaced by `replace(path, leaf)`. */
export function mapLeavesWithPaths(tree: unknown, replace: (path: string, leaf: unknown) => unknown): unknown {
  const visit = (node: unknown, path: string): unknown => {
    if (node === null || node === undefined) return node;
    if (Array.isArray(node)) return node.map((c, i) => visit(c, `${path}[${i}]`));
    if (isPlainObject(node)) {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(node).sort()) out[k] = visit(node[k], `${path}.${k}`);
      return out;
    }
    return replace(path, node);
  };
  return visit(tree, '');
}

/** The tensors reachable from `tree`. */
export function tensorsOf(tree: unknown): Set<tf.Tensor> {
  const out = new Set<tf.Tensor>();
  for (const { leaf } of leavesWithPaths(tree)) if (leaf instanceof tf.Tensor) out.add(leaf);
  return out;
}

/**
 * A state leaf as a tensor to save: tensors as they are, numbers as float32 scalars
 * (int32 when integral) and PRNG keys (`Uint32Array`) as int32 words. Other leaves
 * cannot be stored in a model's weights.
 */
export function leafToTensor(leaf: unknown, where: string): tf.Tensor {
  if (leaf instanceof tf.Tensor) return leaf;
  if (typeof leaf === 'number') {
    return Number.isInteger(leaf) && Math.abs(leaf) < 2 ** 31 ? tf.scalar(leaf, 'int32') : tf.scalar(leaf, 'float32');
  }
  if (typeof leaf === 'boolean') return tf.scalar(leaf ? 1 : 0, 'int32');
  if (leaf instanceof Uint32Array) return tf.tensor1d(Int32Array.from(leaf), 'int32');
  throw new Error(
    `${where}: the optimizer state holds a ${typeof leaf} leaf, which cannot be saved with the model's weights ` +
      '(state leaves must be tensors, numbers, booleans or PRNG keys).',
  );
}

/** The inverse of `leafToTensor`, shaped like `template` (a leaf of a freshly built state). */
export function tensorToLeaf(t: tf.Tensor, template: unknown): unknown {
  if (template instanceof tf.Tensor) return tf.keep(t.clone());
  if (typeof template === 'number') return t.dataSync()[0];
  if (typeof template === 'boolean') return t.dataSync()[0] !== 0;
  if (template instanceof Uint32Array) return Uint32Array.from(t.dataSync() as Int32Array);
  return template;
}
