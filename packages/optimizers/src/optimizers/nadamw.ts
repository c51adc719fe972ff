import { chain } from '../chain.js';
import { optimizerName } from '../format-name.js';
import { checkDecay, checkLearningRate, checkRange } from '../hyperparams.js';
import { OptaxOptimizer } from '../optax-optimizer.js';
import type { ScalarOrSchedule } from '../schedules/schedule.js';
import { scaleByLearningRate } from '../transforms/scale-by-learning-rate.js';
import { type ScaleByNadamwOptions, scaleByNadamw } from '../transforms/scale-by-nadamw.js';

/**
 * Nesterov Adam with AdamW-style weight decay, the reference's `NAdamW` (baseline of
 * arXiv:2002.11887); defaults learningRate 1e-4, beta1 0.9, beta2 0.999, epsilon 1e-8, no
 * weight decay, Nesterov and bias correction on. See `scaleByNadamw` for the step.
 */
export class NAdamW extends OptaxOptimizer {
  /** The learning rate (a value or a schedule of the step count). */
  readonly learningRate: ScalarOrSchedule;
  /** The options, with defaults filled in. */
  readonly options: Required<ScaleByNadamwOptions>;

  constructor(learningRate: ScalarOrSchedule = 1e-4, opts: ScaleByNadamwOptions = {}) {
    const o: Required<ScaleByNadamwOptions> = {
      beta1: 0.9,
      beta2: 0.999,
      epsilon: 1e-8,
      adamwWeightDecay: 0,
      l2WeightDecay: 0,
      useNesterov: true,
      useBiasCorrection: true,
      ...opts,
    };
    checkLearningRate('NAdamW', learningRate);
    checkDecay('NAdamW', 'beta1', o.beta1);
    checkDecay('NAdamW', 'beta2', o.beta2);
    checkRange('NAdamW', 'epsilon', o.epsilon, { min: 0 });
    super(chain(scaleByNadamw(o), scaleByLearningRate(learningRate)));
    this.learningRate = learningRate;
    this.options = o;
  }

  /** `NAdamW_lr.._b1.._b2.._eps.._awd.._l2wd.._nesterov..`. */
  override get name(): string {
    const o = this.options;
    return optimizerName('NAdamW', [
      ['lr', this.learningRate],
      ['b1', o.beta1],
      ['b2', o.beta2],
      ['eps', o.epsilon],
      ['awd', o.adamwWeightDecay],
      ['l2wd', o.l2WeightDecay],
      ['nesterov', o.useNesterov],
    ]);
  }
}
