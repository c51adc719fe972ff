import * as tf from '@tensorflow/tfjs-core';
import { chain } from '../chain.js';
import { optimizerName } from '../format-name.js';
import { checkLearningRate, type Hyperparam } from '../hyperparams.js';
import { OptaxOptimizer } from '../optax-optimizer.js';
import type { ScalarOrSchedule } from '../schedules/schedule.js';
import { addDecayedWeights } from '../transforms/add-decayed-weights.js';
import { scaleByLearningRate } from '../transforms/scale-by-learning-rate.js';
import { scaleByTrustRatio } from '../transforms/scale-by-trust-ratio.js';

/**
 * Fromage (Bernstein et al., 2020), the reference's `Fromage` (optax's `fromage`):
 * trust-ratio steps of relative size `lr`, with the params shrunk by
 * `1 / sqrt(1 + lr^2)` each step. Default minNorm 1e-6.
 */
export class Fromage extends OptaxOptimizer {
  /** The learning rate (a value or a schedule). */
  readonly learningRate: ScalarOrSchedule;
  /** Norms below this are raised to it. */
  readonly minNorm: Hyperparam;

  constructor(learningRate: ScalarOrSchedule, minNorm: Hyperparam = 1e-6) {
    checkLearningRate('Fromage', learningRate);
    const mult = (lr: Hyperparam): Hyperparam =>
      typeof lr === 'number' ? 1 / Math.sqrt(1 + lr * lr) : tf.rsqrt(tf.add(1, tf.square(lr)));
    const lrTimesMult = (lr: Hyperparam): Hyperparam =>
      typeof lr === 'number' ? lr * (mult(lr) as number) : tf.mul(lr, mult(lr));
    const decay = (lr: Hyperparam): Hyperparam =>
      typeof lr === 'number' ? (mult(lr) as number) - 1 : tf.sub(mult(lr), 1);
    super(
      typeof learningRate === 'function'
        ? chain(
            scaleByTrustRatio({ minNorm }),
            scaleByLearningRate((c) => lrTimesMult(learningRate(c))),
            addDecayedWeights((c) => decay(learningRate(c))),
          )
        : chain(
            scaleByTrustRatio({ minNorm }),
            scaleByLearningRate(lrTimesMult(learningRate)),
            addDecayedWeights(decay(learningRate)),
          ),
    );
    this.learningRate = learningRate;
    this.minNorm = minNorm;
  }

  /** `Fromage_lr.._minnorm..`. */
  override get name(): string {
    return optimizerName('Fromage', [
      ['lr', this.learningRate],
      ['minnorm', this.minNorm],
    ]);
  }
}
