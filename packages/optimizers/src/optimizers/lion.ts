import { chain } from '../chain.js';
import { checkOptionKeys, optionKeys } from '../checks.js';
import { optimizerName } from '../format-name.js';
import { checkDecay, checkLearningRate, type Hyperparam } from '../hyperparams.js';
import { OptaxOptimizer } from '../optax-optimizer.js';
import type { ScalarOrSchedule, Schedule } from '../schedules/schedule.js';
import { addDecayedWeights, type Mask } from '../transforms/add-decayed-weights.js';
import { scaleByLearningRate } from '../transforms/scale-by-learning-rate.js';
import { scaleByLion } from '../transforms/scale-by-lion.js';

/** Options of `Lion` (optax's defaults; the reference has no Lion class). */
export interface LionOptions {
  /** Interpolation of gradient and momentum in the sign (default 0.9). */
  b1?: Hyperparam;
  /** Decay of the momentum (default 0.99). */
  b2?: Hyperparam;
  /** Decoupled weight decay, multiplied by the learning rate (default 1e-3). */
  weightDecay?: Hyperparam | Schedule;
  /** Which params are decayed (default all). */
  mask?: Mask;
}

/** Lion (Chen et al., 2023), optax's `lion`. */
export class Lion extends OptaxOptimizer {
  /** The learning rate (a value or a schedule). */
  readonly learningRate: ScalarOrSchedule;
  /** The options, with defaults filled in. */
  readonly options: Required<Omit<LionOptions, 'mask'>> & { mask: Mask };

  constructor(learningRate: ScalarOrSchedule, opts: LionOptions = {}) {
    checkOptionKeys('Lion', opts, optionKeys<LionOptions>({ b1: true, b2: true, weightDecay: true, mask: true }));
    const o = { b1: 0.9, b2: 0.99, weightDecay: 1e-3, mask: true as Mask, ...opts };
    checkLearningRate('Lion', learningRate);
    checkDecay('Lion', 'b1', o.b1);
    checkDecay('Lion', 'b2', o.b2);
    super(chain(scaleByLion(o.b1, o.b2), addDecayedWeights(o.weightDecay, o.mask), scaleByLearningRate(learningRate)));
    this.learningRate = learningRate;
    this.options = o;
  }

  /** `Lion_lr.._b1.._b2.._wd..`. */
  override get name(): string {
    const o = this.options;
    return optimizerName('Lion', [
      ['lr', this.learningRate],
      ['b1', o.b1],
      ['b2', o.b2],
      ['wd', o.weightDecay],
    ]);
  }
}
