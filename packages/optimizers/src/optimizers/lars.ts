import { chain } from '../chain.js';
import { checkOptionKeys, optionKeys } from '../checks.js';
import { optimizerName } from '../format-name.js';
import { checkLearningRate, checkRange, type Hyperparam } from '../hyperparams.js';
import { OptaxOptimizer } from '../optax-optimizer.js';
import type { ScalarOrSchedule, Schedule } from '../schedules/schedule.js';
import { identity } from '../transform.js';
import { addDecayedWeights, type Mask } from '../transforms/add-decayed-weights.js';
import { scaleByLearningRate } from '../transforms/scale-by-learning-rate.js';
import { scaleByTrustRatio } from '../transforms/scale-by-trust-ratio.js';
import { trace } from '../transforms/trace.js';

/** Options of `Lars` (the reference's defaults). */
export interface LarsOptions {
  /** Weight decay added before the trust ratio (default 0). */
  weightDecay?: Hyperparam | Schedule;
  /** Which params are decayed (default all). */
  weightDecayMask?: Mask;
  /** Multiplies the trust ratio (default 0.001). */
  trustCoefficient?: Hyperparam;
  /** Added to the update norm (default 0). */
  eps?: Hyperparam;
  /** Apply the trust ratio (default true; per-leaf masks are not supported). */
  trustRatioMask?: boolean;
  /** Momentum (default 0.9). */
  momentum?: Hyperparam;
  /** Nesterov momentum (default false). */
  nesterov?: boolean;
}

/** LARS (You et al., 2017), the reference's `Lars` (optax's `lars`). */
export class Lars extends OptaxOptimizer {
  /** The learning rate (a value or a schedule). */
  readonly learningRate: ScalarOrSchedule;
  /** The options, with defaults filled in. */
  readonly options: Required<Omit<LarsOptions, 'weightDecayMask'>> & { weightDecayMask: Mask };

  constructor(learningRate: ScalarOrSchedule, opts: LarsOptions = {}) {
    checkOptionKeys(
      'Lars',
      opts,
      optionKeys<LarsOptions>({
        weightDecay: true,
        weightDecayMask: true,
        trustCoefficient: true,
        eps: true,
        trustRatioMask: true,
        momentum: true,
        nesterov: true,
      }),
    );
    const o = {
      weightDecay: 0,
      weightDecayMask: true as Mask,
      trustCoefficient: 0.001,
      eps: 0,
      trustRatioMask: true,
      momentum: 0.9,
      nesterov: false,
      ...opts,
    };
    checkLearningRate('Lars', learningRate);
    checkRange('Lars', 'momentum', o.momentum, { min: 0 });
    super(
      chain(
        addDecayedWeights(o.weightDecay, o.weightDecayMask),
        o.trustRatioMask ? scaleByTrustRatio({ trustCoefficient: o.trustCoefficient, eps: o.eps }) : identity(),
        scaleByLearningRate(learningRate),
        trace(o.momentum, o.nesterov),
      ),
    );
    this.learningRate = learningRate;
    this.options = o;
  }

  /** `Lars_lr.._wd.._tc.._m.._nesterov..`. */
  override get name(): string {
    const o = this.options;
    return optimizerName('Lars', [
      ['lr', this.learningRate],
      ['wd', o.weightDecay],
      ['tc', o.trustCoefficient],
      ['m', o.momentum],
      ['nesterov', o.nesterov],
    ]);
  }
}
