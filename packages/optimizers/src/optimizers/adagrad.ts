import { chain } from '../chain.js';
import { checkOptionKeys, optionKeys } from '../checks.js';
import { optimizerName } from '../format-name.js';
import { checkLearningRate, checkRange, type Hyperparam } from '../hyperparams.js';
import { OptaxOptimizer } from '../optax-optimizer.js';
import type { ScalarOrSchedule } from '../schedules/schedule.js';
import { scaleByLearningRate } from '../transforms/scale-by-learning-rate.js';
import { scaleByRss } from '../transforms/scale-by-rss.js';

/** Options of `AdaGrad` (the reference's defaults). */
export interface AdaGradOptions {
  /** Initial value of the sum of squares (default 0.1). */
  initialAccumulatorValue?: number;
  /** Added inside the square root (default 1e-7). */
  eps?: Hyperparam;
}

/** AdaGrad (Duchi et al., 2011), the reference's `AdaGrad` (optax's `adagrad`). */
export class AdaGrad extends OptaxOptimizer {
  /** The learning rate (a value or a schedule). */
  readonly learningRate: ScalarOrSchedule;
  /** The options, with defaults filled in. */
  readonly options: Required<AdaGradOptions>;

  constructor(learningRate: ScalarOrSchedule, opts: AdaGradOptions = {}) {
    checkOptionKeys('AdaGrad', opts, optionKeys<AdaGradOptions>({ initialAccumulatorValue: true, eps: true }));
    const o: Required<AdaGradOptions> = { initialAccumulatorValue: 0.1, eps: 1e-7, ...opts };
    checkLearningRate('AdaGrad', learningRate);
    checkRange('AdaGrad', 'initialAccumulatorValue', o.initialAccumulatorValue, { min: 0 });
    super(chain(scaleByRss(o.initialAccumulatorValue, o.eps), scaleByLearningRate(learningRate)));
    this.learningRate = learningRate;
    this.options = o;
  }

  /** `AdaGrad_lr.._iav.._eps..`. */
  override get name(): string {
    return optimizerName('AdaGrad', [
      ['lr', this.learningRate],
      ['iav', this.options.initialAccumulatorValue],
      ['eps', this.options.eps],
    ]);
  }
}
