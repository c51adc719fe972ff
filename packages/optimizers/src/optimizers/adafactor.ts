import { chain } from '../chain.js';
import { checkOptionKeys, optionKeys } from '../checks.js';
import { optimizerName } from '../format-name.js';
import { checkLearningRate, checkRange, type Hyperparam } from '../hyperparams.js';
import { OptaxOptimizer } from '../optax-optimizer.js';
import type { ScalarOrSchedule, Schedule } from '../schedules/schedule.js';
import type { GradientTransformation } from '../transform.js';
import { addDecayedWeights, type Mask } from '../transforms/add-decayed-weights.js';
import { clipByBlockRms } from '../transforms/clip-by-block-rms.js';
import { ema } from '../transforms/ema.js';
import { scale } from '../transforms/scale.js';
import { scaleByFactoredRms } from '../transforms/scale-by-factored-rms.js';
import { scaleByLearningRate } from '../transforms/scale-by-learning-rate.js';
import { scaleByParamBlockRms } from '../transforms/scale-by-param-block-rms.js';

/** Options of `Adafactor` (the reference's defaults). */
export interface AdafactorOptions {
  /** Factor only when the two largest dimensions are at least this big (default 128). */
  minDimSizeToFactor?: number;
  /** Exponent of the second-moment decay schedule (default 0.8). */
  decayRate?: Hyperparam;
  /** Step offset of that schedule (default 0). */
  decayOffset?: number;
  /** Scale the step by each param's rms (default true). */
  multiplyByParameterScale?: boolean;
  /** Clip each leaf's update rms to this (default 1; null disables). */
  clippingThreshold?: Hyperparam | null;
  /** Momentum on the update (default null: none). */
  momentum?: Hyperparam | null;
  /** Weight decay rate (default null: none). */
  weightDecayRate?: Hyperparam | Schedule | null;
  /** Added to the squared gradients (default 1e-30). */
  eps?: Hyperparam;
  /** Factor the second moments of matrices (default true). */
  factored?: boolean;
  /** Which params are decayed (default all). */
  weightDecayMask?: Mask;
}

/**
 * Adafactor (Shazeer & Stern, 2018), the reference's `Adafactor` (optax's `adafactor`):
 * factored second moments for matrices, update clipping and parameter-scaled steps.
 */
export class Adafactor extends OptaxOptimizer {
  /** The learning rate (a value or a schedule). */
  readonly learningRate: ScalarOrSchedule;
  /** The options, with defaults filled in. */
  readonly options: Required<AdafactorOptions>;

  constructor(learningRate: ScalarOrSchedule, opts: AdafactorOptions = {}) {
    checkOptionKeys(
      'Adafactor',
      opts,
      optionKeys<AdafactorOptions>({
        minDimSizeToFactor: true,
        decayRate: true,
        decayOffset: true,
        multiplyByParameterScale: true,
        clippingThreshold: true,
        momentum: true,
        weightDecayRate: true,
        eps: true,
        factored: true,
        weightDecayMask: true,
      }),
    );
    const o: Required<AdafactorOptions> = {
      minDimSizeToFactor: 128,
      decayRate: 0.8,
      decayOffset: 0,
      multiplyByParameterScale: true,
      clippingThreshold: 1,
      momentum: null,
      weightDecayRate: null,
      eps: 1e-30,
      factored: true,
      weightDecayMask: true,
      ...opts,
    };
    checkLearningRate('Adafactor', learningRate);
    if (o.clippingThreshold !== null) checkRange('Adafactor', 'clippingThreshold', o.clippingThreshold, { min: 1 });
    const tx: GradientTransformation<unknown>[] = [
      scaleByFactoredRms({
        factored: o.factored,
        decayRate: o.decayRate,
        stepOffset: o.decayOffset,
        minDimSizeToFactor: o.minDimSizeToFactor,
        eps: o.eps,
      }),
    ];
    if (o.clippingThreshold !== null) tx.push(clipByBlockRms(o.clippingThreshold));
    tx.push(scaleByLearningRate(learningRate, false));
    if (o.multiplyByParameterScale) tx.push(scaleByParamBlockRms());
    if (o.momentum !== null) tx.push(ema(o.momentum, false));
    if (o.weightDecayRate !== null) tx.push(addDecayedWeights(o.weightDecayRate, o.weightDecayMask));
    tx.push(scale(-1));
    super(chain(...tx));
    this.learningRate = learningRate;
    this.options = o;
  }

  /** `Adafactor_lr.._decay.._clip.._momentum.._factored..`. */
  override get name(): string {
    const o = this.options;
    return optimizerName('Adafactor', [
      ['lr', this.learningRate],
      ['decay', o.decayRate],
      ['clip', o.clippingThreshold],
      ['momentum', o.momentum],
      ['factored', o.factored],
    ]);
  }
}
