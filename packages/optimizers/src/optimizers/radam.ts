import { chain } from '../chain.js';
import { checkOptionKeys, optionKeys } from '../checks.js';
import { optimizerName } from '../format-name.js';
import { checkDecay, checkLearningRate } from '../hyperparams.js';
import { OptaxOptimizer } from '../optax-optimizer.js';
import type { ScalarOrSchedule } from '../schedules/schedule.js';
import { scaleByLearningRate } from '../transforms/scale-by-learning-rate.js';
import { type ScaleByRAdamOptions, scaleByRAdam } from '../transforms/scale-by-radam.js';

/** Rectified Adam, the reference's `RAdam`: defaults b1 0.9, b2 0.999, eps 1e-8, epsRoot 0, threshold 5. */
export class RAdam extends OptaxOptimizer {
  /** The learning rate (a value or a schedule). */
  readonly learningRate: ScalarOrSchedule;
  /** The options, with defaults filled in. */
  readonly options: Required<ScaleByRAdamOptions>;

  constructor(learningRate: ScalarOrSchedule, opts: ScaleByRAdamOptions = {}) {
    checkOptionKeys(
      'RAdam',
      opts,
      optionKeys<ScaleByRAdamOptions>({ b1: true, b2: true, eps: true, epsRoot: true, threshold: true }),
    );
    const o: Required<ScaleByRAdamOptions> = { b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0, threshold: 5, ...opts };
    checkLearningRate('RAdam', learningRate);
    checkDecay('RAdam', 'b1', o.b1);
    checkDecay('RAdam', 'b2', o.b2);
    super(chain(scaleByRAdam(o), scaleByLearningRate(learningRate)));
    this.learningRate = learningRate;
    this.options = o;
  }

  /** `RAdam_lr.._b1.._b2.._eps.._epsroot.._threshold..`. */
  override get name(): string {
    const o = this.options;
    return optimizerName('RAdam', [
      ['lr', this.learningRate],
      ['b1', o.b1],
      ['b2', o.b2],
      ['eps', o.eps],
      ['epsroot', o.epsRoot],
      ['threshold', o.threshold],
    ]);
  }
}
