import { chain } from '../chain.js';
import { checkOptionKeys, optionKeys } from '../checks.js';
import { optimizerName } from '../format-name.js';
import { checkDecay, checkLearningRate, type Hyperparam } from '../hyperparams.js';
import { OptaxOptimizer } from '../optax-optimizer.js';
import type { ScalarOrSchedule } from '../schedules/schedule.js';
import { scaleByLearningRate } from '../transforms/scale-by-learning-rate.js';
import { scaleByYogi } from '../transforms/scale-by-yogi.js';

/** Options of `Yogi` (the reference's defaults). */
export interface YogiOptions {
  /** Decay of the first moment (default 0.9). */
  b1?: Hyperparam;
  /** Rate of the second-moment update (default 0.999). */
  b2?: Hyperparam;
  /** Added outside the square root (default 1e-3). */
  eps?: Hyperparam;
}

/** Yogi (Zaheer et al., 2018), the reference's `Yogi` (optax's `yogi`). */
export class Yogi extends OptaxOptimizer {
  /** The learning rate (a value or a schedule). */
  readonly learningRate: ScalarOrSchedule;
  /** The options, with defaults filled in. */
  readonly options: Required<YogiOptions>;

  constructor(learningRate: ScalarOrSchedule, opts: YogiOptions = {}) {
    checkOptionKeys('Yogi', opts, optionKeys<YogiOptions>({ b1: true, b2: true, eps: true }));
    const o: Required<YogiOptions> = { b1: 0.9, b2: 0.999, eps: 1e-3, ...opts };
    checkLearningRate('Yogi', learningRate);
    checkDecay('Yogi', 'b1', o.b1);
    checkDecay('Yogi', 'b2', o.b2);
    super(chain(scaleByYogi(o), scaleByLearningRate(learningRate)));
    this.learningRate = learningRate;
    this.options = o;
  }

  /** `Yogi_lr.._b1.._b2.._eps..`. */
  override get name(): string {
    const o = this.options;
    return optimizerName('Yogi', [
      ['lr', this.learningRate],
      ['b1', o.b1],
      ['b2', o.b2],
      ['eps', o.eps],
    ]);
  }
}
