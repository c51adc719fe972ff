import { formatHyperparam as f } from '../format-name.js';
import { checkRange } from '../hyperparams.js';
import { OptaxOptimizer } from '../optax-optimizer.js';
import type { ScalarOrSchedule } from '../schedules/schedule.js';
import { scaleByLearningRate } from '../transforms/scale-by-learning-rate.js';

/** Stochastic gradient descent: `params - learningRate * grads` (reference default lr 0.01). */
export class SGD extends OptaxOptimizer {
  /** The learning rate (a value or a schedule). */
  readonly learningRate: ScalarOrSchedule;

  constructor(learningRate: ScalarOrSchedule = 0.01) {
    checkRange('SGD', 'learningRate', typeof learningRate === 'function' ? undefined : learningRate, { min: 0 });
    super(scaleByLearningRate(learningRate));
    this.learningRate = learningRate;
  }

  /** `SGD_lr<learningRate>`, as the reference. */
  override get name(): string {
    return `SGD_lr${f(this.learningRate)}`;
  }
}
