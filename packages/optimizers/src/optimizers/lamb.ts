import { chain } from '../chain.js';
import { checkOptionKeys, optionKeys } from '../checks.js';
import { optimizerName } from '../format-name.js';
import { checkDecay, checkLearningRate, type Hyperparam } from '../hyperparams.js';
import { OptaxOptimizer } from '../optax-optimizer.js';
import type { ScalarOrSchedule, Schedule } from '../schedules/schedule.js';
import { addDecayedWeights, type Mask } from '../transforms/add-decayed-weights.js';
import { scaleByAdam } from '../transforms/scale-by-adam.js';
import { scaleByLearningRate } from '../transforms/scale-by-learning-rate.js';
import { scaleByTrustRatio } from '../transforms/scale-by-trust-ratio.js';

/** Options of `Lamb` (the reference's defaults). */
export interface LambOptions {
  /** Decay of the first moment (default 0.9). */
  b1?: Hyperparam;
  /** Decay of the second moment (default 0.999). */
  b2?: Hyperparam;
  /** Added outside the square root (default 1e-6). */
  eps?: Hyperparam;
  /** Added inside the square root (default 0). */
  epsRoot?: Hyperparam;
  /** Weight decay added before the trust ratio (default 0). */
  weightDecay?: Hyperparam | Schedule;
  /** Which params are decayed (default all). */
  mask?: Mask;
}

/** LAMB (You et al., 2020), the reference's `Lamb` (optax's `lamb`): Adam steps scaled by per-leaf trust ratios. */
export class Lamb extends OptaxOptimizer {
  /** The learning rate (a value or a schedule). */
  readonly learningRate: ScalarOrSchedule;
  /** The options, with defaults filled in. */
  readonly options: Required<Omit<LambOptions, 'mask'>> & { mask: Mask };

  constructor(learningRate: ScalarOrSchedule, opts: LambOptions = {}) {
    checkOptionKeys(
      'Lamb',
      opts,
      optionKeys<LambOptions>({ b1: true, b2: true, eps: true, epsRoot: true, weightDecay: true, mask: true }),
    );
    const o = { b1: 0.9, b2: 0.999, eps: 1e-6, epsRoot: 0, weightDecay: 0, mask: true as Mask, ...opts };
    checkLearningRate('Lamb', learningRate);
    checkDecay('Lamb', 'b1', o.b1);
    checkDecay('Lamb', 'b2', o.b2);
    super(
      chain(
        scaleByAdam({ b1: o.b1, b2: o.b2, eps: o.eps, epsRoot: o.epsRoot }),
        addDecayedWeights(o.weightDecay, o.mask),
        scaleByTrustRatio(),
        scaleByLearningRate(learningRate),
      ),
    );
    this.learningRate = learningRate;
    this.options = o;
  }

  /** `Lamb_lr.._b1.._b2.._eps.._wd..`. */
  override get name(): string {
    const o = this.options;
    return optimizerName('Lamb', [
      ['lr', this.learningRate],
      ['b1', o.b1],
      ['b2', o.b2],
      ['eps', o.eps],
      ['wd', o.weightDecay],
    ]);
  }
}
