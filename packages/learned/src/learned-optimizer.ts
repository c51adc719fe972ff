import type { Optimizer } from '@lopt/optimizers';
import type { PRNGKey } from '@lopt/pytree';
import { PerProblemVectorizedOptimizer, type VectorizedOptimizer } from './vectorized-optimizer.js';

/**
 * A learned optimizer (learned_optimization's `LearnedOptimizer`): its own parameters
 * `theta` come from `init(key)`, and `optFn(theta)` gives the `Optimizer` they define.
 * `optFn` is differentiable in `theta`, so meta-gradients flow through inner training.
 */
export abstract class LearnedOptimizer<Theta = unknown> {
  /** Fresh meta-parameters drawn from `key`. */
  abstract init(key: PRNGKey): Theta;

  /** The optimizer defined by `theta`; `isTraining` is true during meta-training. */
  abstract optFn(theta: Theta, isTraining?: boolean): Optimizer;

  /**
   * The optimizer of K problems at once, problem k driven by `thetas[k]`: its states and
   * gradients have every tensor leaf stacked on a leading axis of K (parameters
   * `[K, ...]`, `iteration` `[K]`) and its `loss` is `[K]`. Meta-training samples K
   * problems per step, and TensorFlow.js has no `vmap`; this is where a learned optimizer
   * batches the K updates into one computation. The default runs `optFn(thetas[k])` on
   * each problem's slice and stacks the results (the values of K separate updates);
   * `LearnableAdam`, `MLPLOpt` and `AdafacMLPLOpt` override it with batched math.
   */
  vectorizedOptFn(thetas: Theta[], isTraining = false): VectorizedOptimizer {
    return new PerProblemVectorizedOptimizer(this, thetas, isTraining);
  }

  /** The learned optimizer's name, as the reference names it. */
  get name(): string {
    return this.constructor.name;
  }
}
