import type { GradientTransformation } from './transform.js';

/** The state of `chain(...transforms)`: the array of the transformations' states, in order. */
export type StatesOf<T extends readonly GradientTransformation<unknown>[]> = {
  -readonly [K in keyof T]: T[K] extends GradientTransformation<infer S> ? S : never;
};

/**
 * Applies transformations one after the other (optax's `chain`); the state is the array
 * of their states, in order.
 *
 * @example
 * const tx = chain(clipByGlobalNorm(1), scaleByAdam(), scaleByLearningRate(1e-3));
 */
export function chain<const T extends readonly GradientTransformation<unknown>[]>(
  ...transforms: T
): GradientTransformation<StatesOf<T>> {
  return {
    init: (params) => transforms.map((t) => t.init(params)) as StatesOf<T>,
    update: (updates, state, params) => {
      if (!Array.isArray(state) || state.length !== transforms.length) {
        throw new Error(
          `chain: expected a state array of ${transforms.length} transformation states, got ${
            Array.isArray(state) ? `an array of length ${state.length}` : typeof state
          }`,
        );
      }
      let u = updates;
      const next: unknown[] = [];
      for (let i = 0; i < transforms.length; i++) {
        const t = transforms[i]!;
        const [nu, ns] = t.update(u, state[i], params);
        u = nu;
        next.push(ns);
      }
      return [u, next as StatesOf<T>];
    },
  };
}
