import { assertSameStructure, closestNames, type PyTree, treeFlatten } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Throws unless `grads` has the structure of `params` and every leaf the shape of the
 * matching param; the error names the first differing path.
 */
export function checkGrads(owner: string, params: unknown, grads: unknown): void {
  assertSameStructure(params, grads, `${owner}: grads and params`);
  const [ps] = treeFlatten(params as PyTree<unknown>);
  const [gs] = treeFlatten(grads as PyTree<unknown>);
  for (let i = 0; i < ps.length; i++) {
    const p = ps[i];
    const g = gs[i];
    if (!(g instanceof tf.Tensor)) throw new Error(`${owner}: grads leaf ${i} is not a tensor`);
    if (g.isDisposed) throw new Error(`${owner}: grads leaf ${i} (shape [${g.shape}]) has been disposed`);
    if (p instanceof tf.Tensor && !tf.util.arraysEqual(p.shape, g.shape)) {
      throw new Error(
        `${owner}: grads leaf ${i} has shape [${g.shape.join(', ')}] but the param has shape [${p.shape.join(', ')}]`,
      );
    }
  }
}

/** Throws unless every leaf of `params` is a float32 tensor. */
export function checkParams(owner: string, params: unknown): void {
  const [leaves] = treeFlatten(params as PyTree<unknown>);
  leaves.forEach((l, i) => {
    if (!(l instanceof tf.Tensor)) throw new Error(`${owner}: params leaf ${i} is not a tensor (${typeof l})`);
    if (l.dtype !== 'float32') throw new Error(`${owner}: params leaf ${i} is ${l.dtype}; parameters must be float32`);
    if (l.isDisposed) throw new Error(`${owner}: params leaf ${i} has been disposed`);
  });
}

// Names used elsewhere (PyTorch, Keras, the reference's classes) for options this package
// spells the optax way, so the error can point at the right one.
const ALIASES: Record<string, string> = {
  beta1: 'b1',
  beta2: 'b2',
  beta_1: 'b1',
  beta_2: 'b2',
  epsilon: 'eps',
  epsilonRoot: 'epsRoot',
  eps_root: 'epsRoot',
  lr: 'learningRate',
  weight_decay: 'weightDecay',
  useNesterov: 'nesterov',
  useBiasCorrection: 'biasCorrection',
  adamwWeightDecay: 'weightDecay',
};

/**
 * Throws unless every key of `opts` is one of `known`: from JavaScript a misspelt option
 * would otherwise be ignored silently and the default used. The error names the unknown
 * key, the likely intended one (another library's name for it, or a near miss), and every
 * known option.
 */
export function checkOptionKeys(owner: string, opts: object | undefined, known: readonly string[]): void {
  if (opts === undefined || opts === null) return;
  if (typeof opts !== 'object' || Array.isArray(opts)) {
    throw new Error(
      `${owner}: options must be an object (known options: ${known.join(', ')}), got ${Array.isArray(opts) ? 'an array' : typeof opts}`,
    );
  }
  for (const key of Object.keys(opts)) {
    if (known.includes(key)) continue;
    const alias = ALIASES[key];
    const near = alias && known.includes(alias) ? alias : closestNames(key, known, { limit: 1 })[0];
    const hint = near !== undefined ? `; did you mean '${near}'?` : '.';
    throw new Error(`${owner}: unknown option '${key}'${hint} Known options: ${known.join(', ')}.`);
  }
}

/**
 * The option names of `T` as a list for `checkOptionKeys`; the object literal makes the
 * compiler check the list is complete and has no extra names.
 */
export function optionKeys<T extends object>(keys: { [K in keyof Required<T>]: true }): readonly string[] {
  return Object.keys(keys);
}
