import type { PRNGKey } from '@lopt/pytree';
import type * as tf from '@tensorflow/tfjs-core';

/**
 * The state every optimizer carries: a plain pytree holding the parameters, the model
 * state and the step count, plus whatever accumulators the optimizer keeps. Being plain
 * data, it can be stacked, serialised and differentiated.
 */
export interface OptState<P = unknown> {
  /** The current parameters. */
  params: P;
  /** Non-trainable model state (batch-norm statistics, ...), passed through. */
  modelState: unknown;
  /** The number of updates applied so far (an int32 scalar). */
  iteration: tf.Scalar;
}

/** Options of `Optimizer.init`. */
export interface InitOptions {
  /** Non-trainable model state to carry in the optimizer state. */
  modelState?: unknown;
  /** The total number of steps planned (learned optimizers may condition on it). */
  numSteps?: number;
  /** A PRNG key, for optimizers that draw random numbers. */
  key?: PRNGKey;
}

/** Options of `Optimizer.update`. */
export interface UpdateOptions {
  /** The loss at the current parameters (learned optimizers may use it). */
  loss?: tf.Scalar;
  /** The new model state to carry forward. */
  modelState?: unknown;
  /** A PRNG key, for optimizers that draw random numbers. */
  key?: PRNGKey;
}

/**
 * An optimizer as in learned_optimization: a stateless object whose `init` builds a
 * state pytree and whose `update` maps (state, grads) to the next state. Updates are
 * pure: no tensor is modified in place, so an update can sit inside a meta-gradient.
 *
 * Subclass it with `init` and `update`; `getParams`, `getState`, `getParamsState` and
 * `setParams` read the standard fields and rarely need overriding.
 */
export abstract class Optimizer {
  /** Builds the initial state for `params`. */
  abstract init<P>(params: P, opts?: InitOptions): OptState<P>;

  /** Applies one update with `grads` (a pytree shaped like the params). */
  abstract update<P>(state: OptState<P>, grads: P, opts?: UpdateOptions): OptState<P>;

  /** The parameters held in `state`. */
  getParams<P>(state: OptState<P>): P {
    return state.params;
  }

  /** The model state held in `state`. */
  getState<P>(state: OptState<P>): unknown {
    return state.modelState;
  }

  /** `[params, modelState]` of `state`. */
  getParamsState<P>(state: OptState<P>): [P, unknown] {
    return [this.getParams(state), this.getState(state)];
  }

  /** A copy of `state` with its parameters replaced (the accumulators are kept). */
  setParams<P>(state: OptState<P>, params: P): OptState<P> {
    return { ...state, params };
  }

  /** The optimizer's name, as the reference names it. */
  get name(): string {
    return this.constructor.name;
  }
}
