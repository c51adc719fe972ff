import type { Optimizer } from '@lopt/optimizers';
import type { PRNGKey } from '@lopt/pytree';
import { LearnedOptimizer } from './learned-optimizer.js';

/** The (empty) meta-parameters of a learned optimizer made from a fixed optimizer. */
export type EmptyTheta = Record<string, never>;

/**
 * Wraps a hand-designed optimizer as a `LearnedOptimizer` with no meta-parameters (the
 * reference's `learned_optimizer_from_opt`), so code written for learned optimizers
 * (outer training, evaluation) can run a baseline. `init` returns `{}` (the reference
 * returns `None`; an empty object is the pytree with no leaves), and `optFn` returns
 * `opt` itself whatever theta is.
 */
export function learnedOptimizerFromOpt(opt: Optimizer): LearnedOptimizer<EmptyTheta> {
  return new FixedLearnedOptimizer(opt);
}

class FixedLearnedOptimizer extends LearnedOptimizer<EmptyTheta> {
  constructor(private readonly opt: Optimizer) {
    super();
  }
  init(_key: PRNGKey): EmptyTheta {
    return {};
  }
  optFn(_theta: EmptyTheta): Optimizer {
    return this.opt;
  }
  override get name(): string {
    return `LearnedOptimizerFromOpt(${this.opt.name})`;
  }
}
