import type { Optimizer } from '@lopt/optimizers';
import type { PRNGKey } from '@lopt/pytree';

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

  /** The learned optimizer's name, as the reference names it. */
  get name(): string {
    return this.constructor.name;
  }
}
