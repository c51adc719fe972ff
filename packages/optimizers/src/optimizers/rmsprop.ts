import { chain } from '../chain.js';
import { checkOptionKeys, optionKeys } from '../checks.js';
import { optimizerName } from '../format-name.js';
import { checkDecay, checkLearningRate, checkRange, type Hyperparam } from '../hyperparams.js';
import { OptaxOptimizer } from '../optax-optimizer.js';
import type { ScalarOrSchedule } from '../schedules/schedule.js';
import { identity } from '../transform.js';
import { scaleByLearningRate } from '../transforms/scale-by-learning-rate.js';
import { scaleByRms } from '../transforms/scale-by-rms.js';
import { trace } from '../transforms/trace.js';

/** Options of `RMSProp` (the reference's defaults). */
export interface RMSPropOptions {
  /** Decay of the squared-gradient average (default 0.9). */
  decay?: Hyperparam;
  /** Added inside the square root (default 1e-8). */
  eps?: Hyperparam;
  /** Momentum on the rescaled, learning-rate-scaled step (default 0). */
  momentum?: Hyperparam;
  /** Nesterov momentum (default false). */
  nesterov?: boolean;
}

/** RMSProp with optional momentum, the reference's `RMSProp` (optax's `rmsprop`). */
export class RMSProp extends OptaxOptimizer {
  /** The learning rate (a value or a schedule). */
  readonly learningRate: ScalarOrSchedule;
  /** The options, with defaults filled in. */
  readonly options: Required<RMSPropOptions>;

  constructor(learningRate: ScalarOrSchedule = 0.01, opts: RMSPropOptions = {}) {
    checkOptionKeys(
      'RMSProp',
      opts,
      optionKeys<RMSPropOptions>({ decay: true, eps: true, momentum: true, nesterov: true }),
    );
    const o: Required<RMSPropOptions> = { decay: 0.9, eps: 1e-8, momentum: 0, nesterov: false, ...opts };
    checkLearningRate('RMSProp', learningRate);
    checkDecay('RMSProp', 'decay', o.decay);
    checkRange('RMSProp', 'eps', o.eps, { min: 0 });
    checkRange('RMSProp', 'momentum', o.momentum, { min: 0 });
    const noMomentum = typeof o.momentum === 'number' && o.momentum === 0;
    super(
      chain(
        scaleByRms({ decay: o.decay, eps: o.eps }),
        scaleByLearningRate(learningRate),
        noMomentum ? identity() : trace(o.momentum, o.nesterov),
      ),
    );
    this.learningRate = learningRate;
    this.options = o;
  }

  /** `RMSProp_lr.._d.._eps.._m.._nesterov..`, as the reference. */
  override get name(): string {
    const o = this.options;
    return optimizerName('RMSProp', [
      ['lr', this.learningRate],
      ['d', o.decay],
      ['eps', o.eps],
      ['m', o.momentum],
      ['nesterov', o.nesterov],
    ]);
  }
}
