import { chain } from '../chain.js';
import { checkOptionKeys, optionKeys } from '../checks.js';
import { optimizerName } from '../format-name.js';
import { checkDecay, checkLearningRate } from '../hyperparams.js';
import { OptaxOptimizer } from '../optax-optimizer.js';
import type { ScalarOrSchedule } from '../schedules/schedule.js';
import { type ScaleByBeliefOptions, scaleByBelief } from '../transforms/scale-by-belief.js';
import { scaleByLearningRate } from '../transforms/scale-by-learning-rate.js';

/** AdaBelief (Zhuang et al., 2020), the reference's `AdaBelief`: defaults lr 0.01, b1 0.9, b2 0.999, eps 1e-16, epsRoot 1e-16. */
export class AdaBelief extends OptaxOptimizer {
  /** The learning rate (a value or a schedule). */
  readonly learningRate: ScalarOrSchedule;
  /** The options, with defaults filled in. */
  readonly options: Required<ScaleByBeliefOptions>;

  constructor(learningRate: ScalarOrSchedule = 0.01, opts: ScaleByBeliefOptions = {}) {
    checkOptionKeys(
      'AdaBelief',
      opts,
      optionKeys<ScaleByBeliefOptions>({ b1: true, b2: true, eps: true, epsRoot: true }),
    );
    const o: Required<ScaleByBeliefOptions> = { b1: 0.9, b2: 0.999, eps: 1e-16, epsRoot: 1e-16, ...opts };
    checkLearningRate('AdaBelief', learningRate);
    checkDecay('AdaBelief', 'b1', o.b1);
    checkDecay('AdaBelief', 'b2', o.b2);
    super(chain(scaleByBelief(o), scaleByLearningRate(learningRate)));
    this.learningRate = learningRate;
    this.options = o;
  }

  /** `AdaBelief_lr.._b1.._b2.._eps.._epsroot..`. */
  override get name(): string {
    const o = this.options;
    return optimizerName('AdaBelief', [
      ['lr', this.learningRate],
      ['b1', o.b1],
      ['b2', o.b2],
      ['eps', o.eps],
      ['epsroot', o.epsRoot],
    ]);
  }
}
