import * as tf from '@tensorflow/tfjs-core';

/**
 * A pytree: nested arrays and plain objects whose leaves are tensors (or other
 * non-container values such as numbers). `null` and `undefined` are empty subtrees,
 * as `None` is in JAX.
 */
export type PyTree<L = tf.Tensor> = L | null | undefined | readonly PyTree<L>[] | { readonly [key: string]: PyTree<L> };

/**
 * The type of `T` with every tensor leaf replaced by `R`. A tensor mapped to a tensor
 * keeps its declared type, so `treeMap` over params gives back the params type.
 */
export type TreeMapped<T, R> = T extends tf.Tensor
  ? R extends tf.Tensor
    ? T
    : R
  : T extends null | undefined
    ? T
    : T extends readonly unknown[]
      ? { -readonly [K in keyof T]: TreeMapped<T[K], R> }
      : T extends Uint32Array | Int32Array | Float32Array | Float64Array
        ? R
        : T extends object
          ? { [K in keyof T]: TreeMapped<T[K], R> }
          : R;

/** A node of a tree's structure: what `treeFlatten` records to rebuild the tree. */
export type TreeDef =
  | { readonly kind: 'leaf' }
  | { readonly kind: 'none'; readonly value: null | undefined }
  | { readonly kind: 'array'; readonly children: readonly TreeDef[] }
  | {
      readonly kind: 'object';
      readonly keys: readonly string[];
      readonly children: readonly TreeDef[];
    };

/** True for plain objects (`{}` literals or null-prototype objects), the pytree dict nodes. */
export function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (x === null || typeof x !== 'object') return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/** True when `x` is a leaf: anything that is not an array, a plain object, null or undefined. */
export function isLeaf(x: unknown): boolean {
  return x !== null && x !== undefined && !Array.isArray(x) && !isPlainObject(x);
}

/** Keys in sorted order, as JAX sorts dict keys, so flattening is stable. */
function sortedKeys(x: Record<string, unknown>): string[] {
  return Object.keys(x).sort();
}

function pathString(path: readonly (string | number)[]): string {
  if (path.length === 0) return '<root>';
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (x === undefined) return 'undefined';
  if (Array.isArray(x)) return `an array of length ${x.length}`;
  if (isPlainObject(x)) return `an object with keys [${sortedKeys(x).join(', ')}]`;
  if (x instanceof tf.Tensor) return `a tensor of shape [${x.shape.join(', ')}]`;
  return `a leaf (${typeof x})`;
}

/**
 * Flattens a tree into its leaves (depth first, object keys sorted) and its structure.
 */
export function treeFlatten<L = tf.Tensor>(tree: PyTree<L>): [L[], TreeDef] {
  const leaves: L[] = [];
  const visit = (node: unknown): TreeDef => {
    if (node === null || node === undefined) return { kind: 'none', value: node };
    if (Array.isArray(node)) return { kind: 'array', children: node.map(visit) };
    if (isPlainObject(node)) {
      const keys = sortedKeys(node);
      return { kind: 'object', keys, children: keys.map((k) => visit(node[k])) };
    }
    leaves.push(node as L);
    return { kind: 'leaf' };
  };
  const def = visit(tree);
  return [leaves, def];
}

/** The leaves of a tree, in flattening order. */
export function treeLeaves<L = tf.Tensor>(tree: PyTree<L>): L[] {
  return treeFlatten(tree)[0];
}

/** The structure of a tree, without its leaves. */
export function treeStructure(tree: PyTree<unknown>): TreeDef {
  return treeFlatten(tree)[1];
}

/** How many leaves a structure holds. */
export function treeDefNumLeaves(def: TreeDef): number {
  switch (def.kind) {
    case 'leaf':
      return 1;
    case 'none':
      return 0;
    default:
      return def.children.reduce((n, c) => n + treeDefNumLeaves(c), 0);
  }
}

/** Rebuilds a tree of structure `def` from `leaves` (the inverse of `treeFlatten`). */
export function treeUnflatten<L, T = PyTree<L>>(def: TreeDef, leaves: readonly L[]): T {
  const expected = treeDefNumLeaves(def);
  if (leaves.length !== expected) {
    throw new Error(`treeUnflatten: the structure has ${expected} leaves but ${leaves.length} were given`);
  }
  let i = 0;
  const build = (d: TreeDef): unknown => {
    switch (d.kind) {
      case 'leaf':
        return leaves[i++];
      case 'none':
        return d.value;
      case 'array':
        return d.children.map(build);
      case 'object': {
        const out: Record<string, unknown> = {};
        d.keys.forEach((k, j) => {
          out[k] = build(d.children[j]!);
        });
        return out;
      }
    }
  };
  return build(def) as T;
}

/** True when two structures are the same (same nesting, same keys, same leaf positions). */
export function treeDefEqual(a: TreeDef, b: TreeDef): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'leaf' || a.kind === 'none') return true;
  if (a.kind === 'array' && b.kind === 'array') {
    return a.children.length === b.children.length && a.children.every((c, i) => treeDefEqual(c, b.children[i]!));
  }
  if (a.kind === 'object' && b.kind === 'object') {
    return (
      a.keys.length === b.keys.length &&
      a.keys.every((k, i) => k === b.keys[i]) &&
      a.children.every((c, i) => treeDefEqual(c, b.children[i]!))
    );
  }
  return false;
}

/** Throws an error naming the first path where `other` differs in structure from `tree`. */
export function assertSameStructure(
  tree: unknown,
  other: unknown,
  what = 'trees',
  path: (string | number)[] = [],
): void {
  const mismatch = (msg: string) => new Error(`${what} differ in structure at ${pathString(path)}: ${msg}`);
  if (tree === null || tree === undefined) {
    if (other !== null && other !== undefined) throw mismatch(`expected ${describe(tree)}, got ${describe(other)}`);
    return;
  }
  if (Array.isArray(tree)) {
    if (!Array.isArray(other) || other.length !== tree.length) {
      throw mismatch(`expected ${describe(tree)}, got ${describe(other)}`);
    }
    for (const [i, t] of tree.entries()) assertSameStructure(t, other[i], what, [...path, i]);
    return;
  }
  if (isPlainObject(tree)) {
    if (!isPlainObject(other)) throw mismatch(`expected ${describe(tree)}, got ${describe(other)}`);
    const ka = sortedKeys(tree);
    const kb = sortedKeys(other);
    const missing = ka.filter((k) => !(k in other));
    const extra = kb.filter((k) => !(k in tree));
    if (missing.length || extra.length) {
      const parts = [];
      if (missing.length) parts.push(`missing keys [${missing.join(', ')}]`);
      if (extra.length) parts.push(`unexpected keys [${extra.join(', ')}]`);
      throw mismatch(parts.join('; '));
    }
    for (const k of ka) assertSameStructure(tree[k], other[k], what, [...path, k]);
    return;
  }
  if (!isLeaf(other)) throw mismatch(`expected ${describe(tree)}, got ${describe(other)}`);
}

/**
 * Applies `fn` to the leaves of `tree` and the matching leaves of `rest`, returning a
 * tree of the results with `tree`'s structure. All trees must share one structure; an
 * error names the first path where they differ.
 */
export function treeMap<T, R>(
  fn: (x: tf.Tensor, ...rest: tf.Tensor[]) => R,
  tree: T,
  ...rest: unknown[]
): TreeMapped<T, R> {
  for (const r of rest) assertSameStructure(tree, r, 'treeMap: trees');
  const go = (node: unknown, others: unknown[]): unknown => {
    if (node === null || node === undefined) return node;
    if (Array.isArray(node))
      return node.map((c, i) =>
        go(
          c,
          others.map((o) => (o as unknown[])[i]),
        ),
      );
    if (isPlainObject(node)) {
      const out: Record<string, unknown> = {};
      for (const k of sortedKeys(node))
        out[k] = go(
          node[k],
          others.map((o) => (o as Record<string, unknown>)[k]),
        );
      return out;
    }
    return fn(node as tf.Tensor, ...(others as tf.Tensor[]));
  };
  return go(tree, rest) as TreeMapped<T, R>;
}

/** A tree of zeros with the shapes and dtypes of `tree`. */
export function treeZerosLike<T>(tree: T): T {
  return treeMap((x) => tf.zerosLike(x), tree) as T;
}

/** Leafwise `a + b`. */
export function treeAdd<T>(a: T, b: T): T {
  return treeMap((x, y) => tf.add(x, y), a, b) as T;
}

/** Leafwise `a - b`. */
export function treeSub<T>(a: T, b: T): T {
  return treeMap((x, y) => tf.sub(x, y), a, b) as T;
}

/** Leafwise `s * a`, with `s` a number or a scalar tensor. */
export function treeScale<T>(s: number | tf.Scalar, a: T): T {
  return treeMap((x) => tf.mul(x, s), a) as T;
}

/** The inner product of two trees: the sum over leaves of `sum(a * b)`, as a scalar. */
export function treeDot<T>(a: T, b: T): tf.Scalar {
  assertSameStructure(a, b, 'treeDot: trees');
  return tf.tidy(() => {
    const la = treeLeaves(a as PyTree);
    const lb = treeLeaves(b as PyTree);
    if (la.length === 0) return tf.scalar(0);
    return tf.addN(la.map((x, i) => tf.sum(tf.mul(x, lb[i]!)))) as tf.Scalar;
  });
}

/** The global L2 norm of a tree (`sqrt` of the sum of squares over all leaves). */
export function treeNorm<T>(a: T): tf.Scalar {
  return tf.tidy(() => {
    const leaves = treeLeaves(a as PyTree);
    if (leaves.length === 0) return tf.scalar(0);
    return tf.sqrt(tf.addN(leaves.map((x) => tf.sum(tf.square(x))))) as tf.Scalar;
  });
}

/** Disposes every tensor leaf of any number of trees (non-tensor leaves are ignored). */
export function treeDispose(...trees: unknown[]): void {
  for (const t of trees) {
    for (const leaf of treeLeaves(t as PyTree<unknown>)) {
      if (leaf instanceof tf.Tensor && !leaf.isDisposed) leaf.dispose();
    }
  }
}

/**
 * `tf.tidy` typed for pytrees: runs `fn`, disposes every tensor it made except those in
 * the tree it returns (which may hold non-tensor leaves and interface-typed states that
 * `tf.tidy`'s `TensorContainer` type rejects).
 */
export function tidy<T>(fn: () => T): T {
  return tf.tidy(() => fn() as unknown as tf.TensorContainer) as unknown as T;
}
