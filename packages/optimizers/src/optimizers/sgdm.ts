import { chain } from '../chain.js';
import { checkOptionKeys, optionKeys } from '../checks.js';
import { formatHyperparam as f } from '../format-name.js';
import { checkRange, type Hyperparam } from '../hyperparams.js';
import { OptaxOptimizer } from '../optax-optimizer.js';
import type { ScalarOrSchedule } from '../schedules/schedule.js';
import { scaleByLearningRate } from '../transforms/scale-by-learning-rate.js';
import { trace } from '../transforms/trace.js';

/** Options of `SGDM`. */
export interface SGDMOptions {
  /** Use Nesterov momentum (default false). */
  nesterov?: boolean;
}

/**
 * SGD with momentum, as optax's `sgd(lr, momentum)`: `t = momentum * t + g`,
 * `params -= learningRate * t` (reference defaults lr 0.01, momentum 0.9).
 */
export class SGDM extends OptaxOptimizer {
  /** The learning rate (a value or a schedule). */
  readonly learningRate: ScalarOrSchedule;
  /** The momentum decay. */
  readonly momentum: Hyperparam;
  /** Whether Nesterov momentum is used. */
  readonly nesterov: boolean;

  constructor(learningRate: ScalarOrSchedule = 0.01, momentum: Hyperparam = 0.9, opts: SGDMOptions = {}) {
    checkOptionKeys('SGDM', opts, optionKeys<SGDMOptions>({ nesterov: true }));
    const { nesterov = false } = opts;
    checkRange('SGDM', 'learningRate', typeof learningRate === 'function' ? undefined : learningRate, { min: 0 });
    checkRange('SGDM', 'momentum', momentum, { min: 0 });
    super(chain(trace(momentum, nesterov), scaleByLearningRate(learningRate)));
    this.learningRate = learningRate;
    this.momentum = momentum;
    this.nesterov = nesterov;
  }

  /** `SGDM_lr<lr>_m<momentum>` as the reference, with `_nesterovTrue` when Nesterov is on. */
  override get name(): string {
    return `SGDM_lr${f(this.learningRate)}_m${f(this.momentum)}${this.nesterov ? '_nesterovTrue' : ''}`;
  }
}
