/**
 * A gradient transformation, as optax's: `init(params)` builds a state and
 * `update(updates, state, params)` maps updates (gradients at first) to new updates and a
 * new state. Both are pure functions over pytrees of tensors: nothing is modified in
 * place, so a transformation can sit inside a meta-gradient.
 *
 * The updates a chain ends with are *added* to the parameters (so learning-rate scaling
 * carries the minus sign, as in optax). A transformation is `init` and `update` alone:
 * speed comes from the ops inside `update` (see `defineOp` in `@lopt/pytree`), never
 * from hooks a transformation must know about.
 */
export interface GradientTransformation<S = unknown> {
  /** The initial state for `params`. */
  init(params: unknown): S;
  /** New updates and state from `updates`, `state` and (for some transformations) `params`. */
  update<U>(updates: U, state: S, params?: U): [U, S];
}

/** The state of a transformation that keeps none. */
export type EmptyState = Record<string, never>;

/** The transformation that passes updates through unchanged (optax's `identity`). */
export function identity(): GradientTransformation<EmptyState> {
  return {
    init: () => ({}),
    update: (updates, state) => [updates, state],
  };
}

/** Throws the error optax raises when a transformation needing params gets none. */
export function requireParams<U>(name: string, params: U | undefined): U {
  if (params === undefined || params === null) {
    throw new Error(`${name}: this transformation needs the params; pass them as the third argument of update`);
  }
  return params;
}
