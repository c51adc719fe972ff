import { chain } from '../chain.js';
import { checkOptionKeys, optionKeys } from '../checks.js';
import { optimizerName } from '../format-name.js';
import { checkLearningRate, checkRange, type Hyperparam, negate } from '../hyperparams.js';
import { OptaxOptimizer } from '../optax-optimizer.js';
import { scale } from '../transforms/scale.js';
import { scaleBySm3 } from '../transforms/scale-by-sm3.js';

/** Options of `SM3` (the reference's defaults). */
export interface SM3Options {
  /** Momentum (default 0.9). */
  momentum?: Hyperparam;
  /** Second-moment decay; 1 sums squares (default 1). */
  b2?: Hyperparam;
}

/**
 * SM3 (Anil et al., 2019), the reference's `SM3`: memory-efficient adaptive steps with one
 * accumulator per axis. Scalar params are handled as vectors of length 1 internally.
 */
export class SM3 extends OptaxOptimizer {
  /** The learning rate (a value; SM3 takes no schedule, as the reference). */
  readonly learningRate: Hyperparam;
  /** The options, with defaults filled in. */
  readonly options: Required<SM3Options>;

  constructor(learningRate: Hyperparam, opts: SM3Options = {}) {
    checkOptionKeys('SM3', opts, optionKeys<SM3Options>({ momentum: true, b2: true }));
    const o: Required<SM3Options> = { momentum: 0.9, b2: 1, ...opts };
    checkLearningRate('SM3', learningRate);
    checkRange('SM3', 'momentum', o.momentum, { min: 0, max: 1 });
    checkRange('SM3', 'b2', o.b2, { min: 0, max: 1 });
    super(chain(scaleBySm3(o.momentum, o.b2), scale(negate(learningRate))));
    this.learningRate = learningRate;
    this.options = o;
  }

  /** `SM3_lr.._m.._b2..`. */
  override get name(): string {
    return optimizerName('SM3', [
      ['lr', this.learningRate],
      ['m', this.options.momentum],
      ['b2', this.options.b2],
    ]);
  }
}
