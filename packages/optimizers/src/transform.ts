import type { Hyperparam } from './hyperparams.js';

/**
 * A gradient transformation, as optax's: `init(params)` builds a state and
 * `update(updates, state, params)` maps updates (gradients at first) to new updates and a
 * new state. Both are pure functions over pytrees of tensors: nothing is modified in
 * place, so a transformation can sit inside a meta-gradient.
 *
 * The updates a chain ends with are *added* to the parameters (so learning-rate scaling
 * carries the minus sign, as in optax).
 */
export interface GradientTransformation<S = unknown> {
  /** The initial state for `params`. */
  init(params: unknown): S;
  /** New updates and state from `updates`, `state` and (for some transformations) `params`. */
  update<U>(updates: U, state: S, params?: U): [U, S];
  /**
   * True when `update` acts on each element independently of how the elements are
   * grouped into leaves, so it gives the same result on the raveled parameters (one
   * vector) as on the tree. Per-leaf norms, factored moments and the like set false.
   */
  readonly elementwise: boolean;
  /**
   * Optional: `update` with its output multiplied by a scalar `factor`, for
   * transformations that can fold the factor into a scalar they already apply (saving
   * one full-size op per leaf). `chain` uses it when the next transformation is a pure
   * scaling (`scaleFactor`).
   */
  updateScaled?<U>(updates: U, state: S, params: U | undefined, factor: Hyperparam): [U, S];
  /**
   * Optional: for pure scalings (`scale`, `scaleByLearningRate`, `scaleBySchedule`), the
   * factor of this step and the next state, so `chain` can fold it into the previous
   * transformation's `updateScaled`.
   */
  scaleFactor?(state: S): [Hyperparam, S];
}

/** The state of a transformation that keeps none. */
export type EmptyState = Record<string, never>;

/** The transformation that passes updates through unchanged (optax's `identity`). */
export function identity(): GradientTransformation<EmptyState> {
  return {
    init: () => ({}),
    update: (updates, state) => [updates, state],
    elementwise: true,
  };
}

/** Throws the error optax raises when a transformation needing params gets none. */
export function requireParams<U>(name: string, params: U | undefined): U {
  if (params === undefined || params === null) {
    throw new Error(`${name}: this transformation needs the params; pass them as the third argument of update`);
  }
  return params;
}
