import { chain } from '../chain.js';
import { checkOptionKeys, optionKeys } from '../checks.js';
import { optimizerName } from '../format-name.js';
import { checkDecay, checkLearningRate, checkRange } from '../hyperparams.js';
import { OptaxOptimizer } from '../optax-optimizer.js';
import type { ScalarOrSchedule } from '../schedules/schedule.js';
import { scaleByLearningRate } from '../transforms/scale-by-learning-rate.js';
import { type ScaleByNadamwOptions, scaleByNadamw } from '../transforms/scale-by-nadamw.js';

/**
 * Nesterov Adam with AdamW-style weight decay, the reference's `NAdamW` (baseline of
 * arXiv:2002.11887); defaults learningRate 1e-4, b1 0.9, b2 0.999, eps 1e-8, no
 * weight decay, Nesterov and bias correction on. See `scaleByNadamw` for the step.
 */
export class NAdamW extends OptaxOptimizer {
  /** The learning rate (a value or a schedule of the step count). */
  readonly learningRate: ScalarOrSchedule;
  /** The options, with defaults filled in. */
  readonly options: Required<ScaleByNadamwOptions>;

  constructor(learningRate: ScalarOrSchedule = 1e-4, opts: ScaleByNadamwOptions = {}) {
    checkOptionKeys(
      'NAdamW',
      opts,
      optionKeys<ScaleByNadamwOptions>({
        b1: true,
        b2: true,
        eps: true,
        weightDecay: true,
        l2WeightDecay: true,
        nesterov: true,
        biasCorrection: true,
      }),
    );
    const o: Required<ScaleByNadamwOptions> = {
      b1: 0.9,
      b2: 0.999,
      eps: 1e-8,
      weightDecay: 0,
      l2WeightDecay: 0,
      nesterov: true,
      biasCorrection: true,
      ...opts,
    };
    checkLearningRate('NAdamW', learningRate);
    checkDecay('NAdamW', 'b1', o.b1);
    checkDecay('NAdamW', 'b2', o.b2);
    checkRange('NAdamW', 'eps', o.eps, { min: 0 });
    super(chain(scaleByNadamw(o), scaleByLearningRate(learningRate)));
    this.learningRate = learningRate;
    this.options = o;
  }

  /** `NAdamW_lr.._b1.._b2.._eps.._awd.._l2wd.._nesterov..`. */
  override get name(): string {
    const o = this.options;
    return optimizerName('NAdamW', [
      ['lr', this.learningRate],
      ['b1', o.b1],
      ['b2', o.b2],
      ['eps', o.eps],
      ['awd', o.weightDecay],
      ['l2wd', o.l2WeightDecay],
      ['nesterov', o.nesterov],
    ]);
  }
}
