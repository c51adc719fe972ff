import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients } from './gradients/registry.js';
import { withCheapSavedTensors } from './gradients/saved-tensors.js';
import { type PyTree, treeFlatten, treeMap, treeUnflatten } from './tree.js';

/** Options of `grad` / `valueAndGrad`, as in JAX. */
export interface GradOptions {
  /** Which positional argument(s) to differentiate with respect to (default 0). */
  argnums?: number | readonly number[];
  /** `f` returns `[value, aux]`; `aux` is passed through undifferentiated. */
  hasAux?: boolean;
}

/** Which positional argument(s) `grad` / `valueAndGrad` differentiate. */
export type Argnums = number | readonly number[];
/** The gradient type for arguments `A` and `argnums` `N`: one argument's type, or a tuple. */
export type GradsOf<A extends unknown[], N> = N extends readonly number[]
  ? { [K in keyof N]: N[K] extends number ? A[N[K]] : never }
  : N extends number
    ? A[N]
    : A[0];

function normalizeArgnums(argnums: Argnums | undefined, nargs: number): number[] {
  const list = argnums === undefined ? [0] : typeof argnums === 'number' ? [argnums] : [...argnums];
  for (const a of list) {
    if (!Number.isInteger(a) || a < 0 || a >= nargs) {
      throw new Error(`valueAndGrad: argnums ${a} is out of range for a call with ${nargs} argument(s)`);
    }
  }
  return list;
}

function isFloatTensor(x: unknown): x is tf.Tensor {
  return x instanceof tf.Tensor && x.dtype === 'float32';
}

/**
 * Differentiates `f` with respect to pytree argument(s), as `jax.value_and_grad`.
 * `valueAndGrad(f)(params, key, batch)` returns `[value, grads]`, where `grads` mirrors
 * `params`. With `argnums` as an array, `grads` is a tuple mirroring those arguments;
 * with `hasAux`, `f` returns `[value, aux]` and the result is `[[value, aux], grads]`.
 *
 * Calls nest: a gradient of a function that itself takes gradients is a second
 * derivative, and every gradient this package registers is differentiable again.
 * Only float32 tensor leaves are differentiated: other tensor leaves (int labels, say)
 * get zeros of their shape and non-tensor leaves (keys, numbers) come back unchanged.
 */
export function valueAndGrad<A extends unknown[], R extends tf.Tensor, const N extends Argnums = 0>(
  f: (...args: A) => R,
  opts?: GradOptions & { argnums?: N; hasAux?: false },
): (...args: A) => [R, GradsOf<A, N>];
export function valueAndGrad<A extends unknown[], R extends tf.Tensor, X, const N extends Argnums = 0>(
  f: (...args: A) => [R, X],
  opts: GradOptions & { argnums?: N; hasAux: true },
): (...args: A) => [[R, X], GradsOf<A, N>];
export function valueAndGrad(
  f: (...args: unknown[]) => unknown,
  opts: GradOptions = {},
): (...args: unknown[]) => [unknown, unknown] {
  const hasAux = opts.hasAux ?? false;
  return (...args: unknown[]) => {
    ensureGradients();
    const argnums = normalizeArgnums(opts.argnums, args.length);
    const flat = argnums.map((a) => treeFlatten(args[a] as PyTree<unknown>));
    // Only float tensors are differentiated; other leaves pass through as they are.
    const xs: tf.Tensor[] = [];
    const slots: number[][] = flat.map(([leaves]) =>
      leaves.map((l) => {
        if (!isFloatTensor(l)) return -1;
        xs.push(l);
        return xs.length - 1;
      }),
    );
    let aux: unknown;
    // Tensors with a larger id than this were made inside f (tfjs ids only grow).
    let startId = 0;
    if (hasAux) {
      const marker = tf.scalar(0);
      startId = marker.id;
      marker.dispose();
    }
    const isNew = (x: unknown): x is tf.Tensor => x instanceof tf.Tensor && x.id > startId;
    const run = (): tf.Scalar => {
      const out = f(...args);
      let value: unknown = out;
      if (hasAux) {
        if (!Array.isArray(out) || out.length !== 2) {
          throw new Error('valueAndGrad: with hasAux, f must return [value, aux]');
        }
        value = out[0];
        // tfjs disposes what the forward pass does not return; keep aux alive past it.
        aux = out[1];
        for (const leaf of treeFlatten(aux as PyTree<unknown>)[0]) if (isNew(leaf)) tf.keep(leaf);
      }
      if (!(value instanceof tf.Tensor) || value.size !== 1) {
        const what = value instanceof tf.Tensor ? `a tensor of shape [${value.shape.join(', ')}]` : typeof value;
        throw new Error(`valueAndGrad: f must return a scalar tensor, got ${what}`);
      }
      if (value.dtype !== 'float32')
        throw new Error(`valueAndGrad: f must return a float32 scalar, got ${value.dtype}`);
      return value as tf.Scalar;
    };
    let value: tf.Scalar;
    let grads: (tf.Tensor | undefined)[];
    if (xs.length === 0) {
      value = run();
      grads = [];
    } else {
      const res = withCheapSavedTensors(() => tf.engine().gradients(run, xs, undefined, true));
      value = res.value as tf.Scalar;
      grads = res.grads as (tf.Tensor | undefined)[];
    }
    const gradTrees = flat.map(([leaves, def], j) =>
      treeUnflatten(
        def,
        leaves.map((l, i) => {
          const slot = slots[j]![i]!;
          if (slot >= 0) return grads[slot] ?? tf.zerosLike(l as tf.Tensor);
          return l instanceof tf.Tensor ? tf.zerosLike(l) : l;
        }),
      ),
    );
    if (hasAux) {
      // Hand aux back to the caller's scope (kept tensors escape tidy), then drop the kept copies.
      const kept = aux;
      aux = treeMap((x) => (isNew(x) ? x.clone() : x), kept);
      for (const leaf of treeFlatten(kept as PyTree<unknown>)[0]) if (isNew(leaf) && !leaf.isDisposed) leaf.dispose();
    }
    const g = typeof opts.argnums === 'object' ? gradTrees : gradTrees[0];
    return [hasAux ? [value, aux] : value, g];
  };
}

/** The gradient of `f` alone, as `jax.grad`: `valueAndGrad` without the value. */
export function grad<A extends unknown[], R extends tf.Tensor, const N extends Argnums = 0>(
  f: (...args: A) => R,
  opts?: GradOptions & { argnums?: N; hasAux?: false },
): (...args: A) => GradsOf<A, N>;
export function grad<A extends unknown[], R extends tf.Tensor, X, const N extends Argnums = 0>(
  f: (...args: A) => [R, X],
  opts: GradOptions & { argnums?: N; hasAux: true },
): (...args: A) => [GradsOf<A, N>, X];
export function grad(f: (...args: unknown[]) => unknown, opts: GradOptions = {}): (...args: unknown[]) => unknown {
  const vg = valueAndGrad(f as (...args: unknown[]) => tf.Scalar, opts as GradOptions & { hasAux?: false });
  return (...args: unknown[]) => {
    const [v, g] = vg(...args);
    if (opts.hasAux) {
      const [value, aux] = v as unknown as [tf.Tensor, unknown];
      value.dispose();
      return [g, aux];
    }
    (v as tf.Tensor).dispose();
    return g;
  };
}
