import { chain } from '../chain.js';
import { checkOptionKeys, optionKeys } from '../checks.js';
import { optimizerName } from '../format-name.js';
import { checkDecay, checkLearningRate, checkRange, type Hyperparam } from '../hyperparams.js';
import { OptaxOptimizer } from '../optax-optimizer.js';
import type { ScalarOrSchedule, Schedule } from '../schedules/schedule.js';
import { addDecayedWeights, type Mask } from '../transforms/add-decayed-weights.js';
import { scaleByAdam } from '../transforms/scale-by-adam.js';
import { scaleByLearningRate } from '../transforms/scale-by-learning-rate.js';

/** Options of `AdamW` (the reference's defaults). */
export interface AdamWOptions {
  /** Decay of the first moment (default 0.9). */
  b1?: Hyperparam;
  /** Decay of the second moment (default 0.999). */
  b2?: Hyperparam;
  /** Added outside the square root (default 1e-8). */
  eps?: Hyperparam;
  /** Added inside the square root (default 0). */
  epsRoot?: Hyperparam;
  /** Decoupled weight decay, multiplied by the learning rate (default 1e-4). */
  weightDecay?: Hyperparam | Schedule;
  /** Which params are decayed (default all). */
  mask?: Mask;
}

/** Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as optax's `adamw`. */
export class AdamW extends OptaxOptimizer {
  /** The learning rate (a value or a schedule). */
  readonly learningRate: ScalarOrSchedule;
  /** The options, with defaults filled in. */
  readonly options: Required<Omit<AdamWOptions, 'mask'>> & { mask: Mask };

  constructor(learningRate: ScalarOrSchedule, opts: AdamWOptions = {}) {
    checkOptionKeys(
      'AdamW',
      opts,
      optionKeys<AdamWOptions>({ b1: true, b2: true, eps: true, epsRoot: true, weightDecay: true, mask: true }),
    );
    const o = { b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0, weightDecay: 1e-4, mask: true as Mask, ...opts };
    checkLearningRate('AdamW', learningRate);
    checkDecay('AdamW', 'b1', o.b1);
    checkDecay('AdamW', 'b2', o.b2);
    checkRange('AdamW', 'eps', o.eps, { min: 0 });
    super(
      chain(
        scaleByAdam({ b1: o.b1, b2: o.b2, eps: o.eps, epsRoot: o.epsRoot }),
        addDecayedWeights(o.weightDecay, o.mask),
        scaleByLearningRate(learningRate),
      ),
    );
    this.learningRate = learningRate;
    this.options = o;
  }

  /** `AdamW_lr.._b1.._b2.._eps.._epsroot.._wd..`. */
  override get name(): string {
    const o = this.options;
    return optimizerName('AdamW', [
      ['lr', this.learningRate],
      ['b1', o.b1],
      ['b2', o.b2],
      ['eps', o.eps],
      ['epsroot', o.epsRoot],
      ['wd', o.weightDecay],
    ]);
  }
}
