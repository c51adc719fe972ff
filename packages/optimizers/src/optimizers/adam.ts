import * as tf from '@tensorflow/tfjs-core';
import { checkOptionKeys, optionKeys } from '../checks.js';
import { formatHyperparam as f } from '../format-name.js';
import { checkRange, type Hyperparam, increment, negate } from '../hyperparams.js';
import { OptaxOptimizer } from '../optax-optimizer.js';
import type { ScalarOrSchedule } from '../schedules/schedule.js';
import type { EmptyState, GradientTransformation } from '../transform.js';
import { type ScaleByAdamOptions, type ScaleByAdamState, scaleByAdamUpdate } from '../transforms/scale-by-adam.js';
import type { ScaleByScheduleState } from '../transforms/scale-by-schedule.js';
import { mapLike } from '../tree-ops.js';

/** Options of `Adam` (the reference's defaults). */
export interface AdamOptions {
  /** Decay of the first moment (default 0.9). */
  b1?: Hyperparam;
  /** Decay of the second moment (default 0.999). */
  b2?: Hyperparam;
  /** Added to the denominator outside the square root (default 1e-8). */
  eps?: Hyperparam;
  /**
   * Added to the second moment inside the square root (default 1e-8, as the reference).
   * It also keeps the derivative of the square root finite where the moment is 0.
   */
  epsRoot?: Hyperparam;
}

/**
 * Adam (Kingma & Ba, 2015), as the reference's `Adam`: optax's `adam` with
 * `epsRoot` 1e-8. Every hyperparameter may be a number or a scalar tensor.
 */
export class Adam extends OptaxOptimizer {
  /** The learning rate (a value or a schedule). */
  readonly learningRate: ScalarOrSchedule;
  /** Decay of the first moment. */
  readonly b1: Hyperparam;
  /** Decay of the second moment. */
  readonly b2: Hyperparam;
  /** Added to the denominator outside the square root. */
  readonly eps: Hyperparam;
  /** Added to the second moment inside the square root. */
  readonly epsRoot: Hyperparam;

  constructor(learningRate: ScalarOrSchedule = 0.01, opts: AdamOptions = {}) {
    checkOptionKeys('Adam', opts, optionKeys<AdamOptions>({ b1: true, b2: true, eps: true, epsRoot: true }));
    const { b1 = 0.9, b2 = 0.999, eps = 1e-8, epsRoot = 1e-8 } = opts;
    checkRange('Adam', 'learningRate', typeof learningRate === 'function' ? undefined : learningRate, { min: 0 });
    checkRange('Adam', 'b1', b1, { min: 0, max: 1, maxExclusive: true });
    checkRange('Adam', 'b2', b2, { min: 0, max: 1, maxExclusive: true });
    checkRange('Adam', 'eps', eps, { min: 0 });
    checkRange('Adam', 'epsRoot', epsRoot, { min: 0 });
    super(scaleByAdamThenLearningRate({ b1, b2, eps, epsRoot }, learningRate));
    this.learningRate = learningRate;
    this.b1 = b1;
    this.b2 = b2;
    this.eps = eps;
    this.epsRoot = epsRoot;
  }

  /** `Adam_lr<lr>_b1<b1>_b2<b2>_eps<eps>_epsroot<epsRoot>`, as the reference. */
  override get name(): string {
    return `Adam_lr${f(this.learningRate)}_b1${f(this.b1)}_b2${f(this.b2)}_eps${f(this.eps)}_epsroot${f(this.epsRoot)}`;
  }
}

/**
 * `chain(scaleByAdam(opts), scaleByLearningRate(learningRate))`, same state, same values,
 * with the (negated) learning rate passed into Adam's step op as its output factor
 * instead of a separate full-size multiply per leaf.
 */
function scaleByAdamThenLearningRate(
  opts: ScaleByAdamOptions,
  learningRate: ScalarOrSchedule,
): GradientTransformation<[ScaleByAdamState, EmptyState | ScaleByScheduleState]> {
  const schedule = typeof learningRate === 'function' ? learningRate : undefined;
  return {
    init: (params) => [
      {
        count: tf.scalar(0, 'int32'),
        mu: mapLike((p) => tf.zerosLike(p), params),
        nu: mapLike((p) => tf.zerosLike(p), params),
      },
      schedule ? { count: tf.scalar(0, 'int32') } : ({} as EmptyState),
    ],
    update: (updates, state) => {
      if (!Array.isArray(state) || state.length !== 2) {
        throw new Error('Adam: expected the state [scaleByAdam state, learning-rate state]');
      }
      const [adamState, lrState] = state;
      let factor: Hyperparam;
      let nextLr: EmptyState | ScaleByScheduleState = lrState;
      if (schedule) {
        const count = (lrState as ScaleByScheduleState).count;
        const lr = schedule(count);
        factor = typeof lr === 'number' ? -lr : tf.neg(lr);
        nextLr = { count: increment(count) };
      } else {
        factor = negate(learningRate as Hyperparam);
      }
      const [u, nextAdam] = scaleByAdamUpdate(opts, updates, adamState, factor);
      return [u, [nextAdam, nextLr]];
    },
  };
}
