import { isPlainObject } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';

/** One parameter leaf, as `Celo2`'s AdamW rule sees it. */
export interface Celo2Leaf {
  /** Position in the params' flattening order (depth first, object keys sorted). */
  index: number;
  /** The leaf's path in the params: `.key` per object level, `[i]` per array level, e.g. `.mlp/~/linear_0.w`. */
  path: string;
  /** The leaf's shape. */
  shape: readonly number[];
  /** What the default rule decides for this leaf (true: AdamW). */
  adamwByDefault: boolean;
}

/**
 * Which leaves `Celo2` updates with AdamW instead of its learned rule, overriding the
 * default per leaf (true: AdamW, false: the learned rule):
 *
 * - a function of the leaf returning a boolean, or `undefined` to keep the default;
 * - a mask: a tree shaped like the params (or a prefix of it) with a boolean, or
 *   `undefined` / a missing key to keep the default. A boolean at an inner node applies
 *   to every leaf below it.
 */
export type Celo2AdamWRule = ((leaf: Celo2Leaf) => boolean | undefined) | Celo2Mask;

/** A mask tree for {@link Celo2AdamWRule}: booleans (or `undefined`) on a prefix of the params' structure. */
export type Celo2Mask = boolean | undefined | null | readonly Celo2Mask[] | { readonly [key: string]: Celo2Mask };

interface Visited {
  path: string;
  shape: number[];
  mask: boolean | undefined;
}

function pathOf(parent: string, key: string | number): string {
  return typeof key === 'number' ? `${parent}[${key}]` : `${parent}.${key}`;
}

// Walks the params as treeFlatten does (arrays in order, object keys sorted), carrying
// the mask node that covers each leaf.
function visit(params: unknown, mask: unknown, path: string, out: Visited[]): void {
  if (params === null || params === undefined) return;
  const inherited = typeof mask === 'boolean' ? mask : undefined;
  const child = (key: string | number): unknown => {
    if (typeof mask === 'boolean' || mask === undefined || mask === null) return mask;
    if (Array.isArray(mask)) {
      if (typeof key !== 'number') throw maskError(path, 'an array', 'an object');
      return mask[key];
    }
    if (isPlainObject(mask)) {
      if (typeof key === 'number') throw maskError(path, 'an object', 'an array');
      return mask[key];
    }
    throw new Error(
      `Celo2: the adamw mask at ${path || '<root>'} is ${typeof mask}; use booleans, undefined, arrays and plain objects`,
    );
  };
  if (Array.isArray(params)) {
    params.forEach((p, i) => visit(p, child(i), pathOf(path, i), out));
    return;
  }
  if (isPlainObject(params)) {
    for (const k of Object.keys(params).sort()) visit(params[k], child(k), pathOf(path, k), out);
    return;
  }
  if (!(params instanceof tf.Tensor)) {
    throw new Error(`Celo2: params leaf ${path || '<root>'} is not a tensor (${typeof params})`);
  }
  if (mask !== undefined && mask !== null && typeof mask !== 'boolean') {
    throw new Error(
      `Celo2: the adamw mask has a subtree at ${path || '<root>'}, where the params have a tensor; put a boolean there`,
    );
  }
  out.push({ path: path || '<root>', shape: params.shape, mask: inherited });
}

function maskError(path: string, got: string, want: string): Error {
  return new Error(`Celo2: the adamw mask has ${got} at ${path || '<root>'}, where the params have ${want}`);
}

/**
 * For every leaf of `params`, in flattening order, whether `Celo2` updates it with AdamW
 * (true) or with its learned rule (false).
 *
 * The default is the reference's rule, applied to the flattening order (depth first,
 * object keys sorted, as `treeFlatten`; the reference uses its parameter list order): a
 * leaf takes AdamW when it has at most one axis (biases, norms, scalars), when its path
 * contains `embed` (any case: embeddings), or when it is the first or the last leaf with
 * two or more axes (the input and output layers). `rule` overrides this per leaf.
 * A scalar leaf cannot take the learned rule: it has no axis to normalise over.
 */
export function celo2AdamWLeaves(params: unknown, rule?: Celo2AdamWRule): boolean[] {
  const leaves: Visited[] = [];
  visit(params, typeof rule === 'function' ? undefined : rule, '', leaves);
  const multi = leaves.flatMap((l, i) => (l.shape.length >= 2 ? [i] : []));
  const first = multi[0];
  const last = multi[multi.length - 1];
  return leaves.map((l, index) => {
    const adamwByDefault = l.shape.length <= 1 || /embed/i.test(l.path) || index === first || index === last;
    const chosen = typeof rule === 'function' ? rule({ index, path: l.path, shape: l.shape, adamwByDefault }) : l.mask;
    if (chosen !== undefined && typeof chosen !== 'boolean') {
      throw new Error(
        `Celo2: the adamw rule returned ${String(chosen)} for ${l.path}; return true, false or undefined`,
      );
    }
    const adamw = chosen ?? adamwByDefault;
    if (!adamw && l.shape.length === 0) {
      throw new Error(
        `Celo2: leaf ${l.path} is a scalar, which the learned rule cannot update (it normalises over the leaf's axes); let it take AdamW`,
      );
    }
    return adamw;
  });
}
