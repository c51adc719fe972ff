import type { InitOptions, Optimizer, OptState } from '@lopt/optimizers';
import type { PRNGKey } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { LearnedOptimizer } from './learned-optimizer.js';
import { stackOptStates, unstackTree } from './stacked-trees.js';
import { tidyTree } from './tidy-tree.js';

/**
 * The state of K problems optimized together: K states of one optimizer stacked leaf by
 * leaf on a leading axis. `params` holds the parameters as `[K, ...]` tensors, the step
 * counts are a `[K]` vector, and the optimizer's accumulators are stacked the same way.
 */
export interface StackedOptState<P = unknown> {
  /** The K problems' parameters, every leaf `[K, ...]`. */
  params: P;
  /** Non-trainable model state, passed through. */
  modelState: unknown;
  /** The K problems' update counts, an int32 `[K]` vector. */
  iteration: tf.Tensor1D;
}

/** Options of `VectorizedOptimizer.update`. */
export interface StackedUpdateOptions {
  /** The K problems' losses at their current parameters, `[K]`. */
  loss?: tf.Tensor1D;
  /** The new model state to carry forward. */
  modelState?: unknown;
  /** A PRNG key, for optimizers that draw random numbers. */
  key?: PRNGKey;
}

/**
 * An optimizer of K problems at once, problem k driven by its own meta-parameters (what
 * `LearnedOptimizer.vectorizedOptFn` returns). TensorFlow.js has no `vmap`: a learned
 * optimizer that batches its K updates into one computation implements this directly;
 * the default runs the K updates one after the other on the unstacked states.
 */
export abstract class VectorizedOptimizer {
  /** The number of problems K. */
  abstract readonly numProblems: number;

  /** The stacked initial state for stacked `params` (every leaf `[K, ...]`). */
  abstract init<P>(params: P, opts?: InitOptions): StackedOptState<P>;

  /** One update of all K problems with stacked `grads`. */
  abstract update<P>(state: StackedOptState<P>, grads: P, opts?: StackedUpdateOptions): StackedOptState<P>;

  /** The stacked parameters of `state`. */
  getParams<P>(state: StackedOptState<P>): P {
    return state.params;
  }

  /** The name of the optimizer each problem runs. */
  abstract get name(): string;
}

/**
 * The default `VectorizedOptimizer`: K separate optimizers (`optFn(thetas[k])`), each
 * updating its problem's slice of the stacked state, the results stacked again. Values
 * and meta-gradients are those of K separate updates by construction. The optimizers are
 * made inside each call, so the tensors `optFn` makes from theta are freed with it.
 */
export class PerProblemVectorizedOptimizer<Theta> extends VectorizedOptimizer {
  readonly numProblems: number;

  /**
   * @param lopt the learned optimizer whose `optFn` each problem runs
   * @param thetas the meta-parameters of each problem, in stacking order
   * @param isTraining passed to `optFn`
   */
  constructor(
    private readonly lopt: LearnedOptimizer<Theta>,
    private readonly thetas: readonly Theta[],
    private readonly isTraining: boolean,
  ) {
    super();
    if (thetas.length === 0) throw new Error(`${lopt.name}.vectorizedOptFn: needs at least one theta`);
    this.numProblems = thetas.length;
  }

  private optimizers(): Optimizer[] {
    return this.thetas.map((t) => this.lopt.optFn(t, this.isTraining));
  }

  init<P>(params: P, opts: InitOptions = {}): StackedOptState<P> {
    return tidyTree(() => {
      const ps = unstackTree<P>(params, this.numProblems, `${this.name} (vectorized) init`);
      return this.stack(this.optimizers().map((o, k) => o.init(ps[k]!, opts)));
    });
  }

  update<P>(state: StackedOptState<P>, grads: P, opts: StackedUpdateOptions = {}): StackedOptState<P> {
    const K = this.numProblems;
    const who = `${this.name} (vectorized) update`;
    return tidyTree(() => {
      const states = unstackTree<OptState<P>>(state, K, who);
      const gs = unstackTree<P>(grads, K, who);
      const losses = opts.loss ? tf.unstack(opts.loss) : undefined;
      if (losses && losses.length !== K)
        throw new Error(`${who}: loss must be [${K}], got [${opts.loss!.shape.join(', ')}]`);
      const next = this.optimizers().map((o, k) =>
        o.update(states[k]!, gs[k]!, {
          loss: losses?.[k] as tf.Scalar | undefined,
          modelState: opts.modelState,
          key: opts.key,
        }),
      );
      return this.stack(next);
    });
  }

  get name(): string {
    return this.lopt.name;
  }

  private stack<P>(states: OptState<P>[]): StackedOptState<P> {
    const stacked = stackOptStates(states);
    if (!stacked) {
      throw new Error(
        `${this.name} (vectorized): the ${states.length} problems' states differ in structure, dtype or shape and cannot be stacked`,
      );
    }
    return stacked;
  }
}
