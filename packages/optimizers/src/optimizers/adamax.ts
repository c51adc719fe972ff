import { chain } from '../chain.js';
import { checkOptionKeys, optionKeys } from '../checks.js';
import { optimizerName } from '../format-name.js';
import { checkDecay, checkLearningRate, type Hyperparam } from '../hyperparams.js';
import { OptaxOptimizer } from '../optax-optimizer.js';
import type { ScalarOrSchedule } from '../schedules/schedule.js';
import { scaleByAdamax } from '../transforms/scale-by-adamax.js';
import { scaleByLearningRate } from '../transforms/scale-by-learning-rate.js';

/** Options of `Adamax` (optax's defaults; the reference has no Adamax class). */
export interface AdamaxOptions {
  /** Decay of the first moment (default 0.9). */
  b1?: Hyperparam;
  /** Decay of the infinity norm (default 0.999). */
  b2?: Hyperparam;
  /** Added to |g| (default 1e-8). */
  eps?: Hyperparam;
}

/** Adamax (Kingma & Ba, 2015), optax's `adamax`. */
export class Adamax extends OptaxOptimizer {
  /** The learning rate (a value or a schedule). */
  readonly learningRate: ScalarOrSchedule;
  /** The options, with defaults filled in. */
  readonly options: Required<AdamaxOptions>;

  constructor(learningRate: ScalarOrSchedule, opts: AdamaxOptions = {}) {
    checkOptionKeys('Adamax', opts, optionKeys<AdamaxOptions>({ b1: true, b2: true, eps: true }));
    const o: Required<AdamaxOptions> = { b1: 0.9, b2: 0.999, eps: 1e-8, ...opts };
    checkLearningRate('Adamax', learningRate);
    checkDecay('Adamax', 'b1', o.b1);
    checkDecay('Adamax', 'b2', o.b2);
    super(chain(scaleByAdamax(o.b1, o.b2, o.eps), scaleByLearningRate(learningRate)));
    this.learningRate = learningRate;
    this.options = o;
  }

  /** `Adamax_lr.._b1.._b2.._eps..`. */
  override get name(): string {
    const o = this.options;
    return optimizerName('Adamax', [
      ['lr', this.learningRate],
      ['b1', o.b1],
      ['b2', o.b2],
      ['eps', o.eps],
    ]);
  }
}
