/**
 * @packageDocumentation
 * Hand-designed optimizers for lopt: optax-style gradient transformations (pure
 * `init`/`update` functions over pytrees, composed with `chain`), schedules, and the
 * reference's optimizer classes behind one `Optimizer` interface.
 */

export { chain, type StatesOf } from './chain.js';
// Numerics and naming helpers.
export { formatHyperparam, optimizerName } from './format-name.js';
export type { Hyperparam } from './hyperparams.js';
export { type InjectHyperparamsState, injectHyperparams } from './inject-hyperparams.js';
export { safeNorm, safeRootMeanSquares, safeRsqrt, sqrtWithRoot } from './numerics.js';
export { OptaxOptimizer, type OptaxState } from './optax-optimizer.js';
// The interface and the adapter from transformations to it.
export { type InitOptions, Optimizer, type OptState, type UpdateOptions } from './optimizer.js';
// Optimizers, with the reference's names and defaults.
export { AdaBelief } from './optimizers/adabelief.js';
export { Adafactor, type AdafactorOptions } from './optimizers/adafactor.js';
export { AdaGrad, type AdaGradOptions } from './optimizers/adagrad.js';
export { Adam, type AdamOptions } from './optimizers/adam.js';
export { Adamax, type AdamaxOptions } from './optimizers/adamax.js';
export { AdamW, type AdamWOptions } from './optimizers/adamw.js';
export { Fromage } from './optimizers/fromage.js';
export { Lamb, type LambOptions } from './optimizers/lamb.js';
export { Lars, type LarsOptions } from './optimizers/lars.js';
export { Lion, type LionOptions } from './optimizers/lion.js';
export { NAdamW } from './optimizers/nadamw.js';
export { RAdam } from './optimizers/radam.js';
export { RMSProp, type RMSPropOptions } from './optimizers/rmsprop.js';
export { SGD } from './optimizers/sgd.js';
export { SGDM, type SGDMOptions } from './optimizers/sgdm.js';
export { SM3, type SM3Options } from './optimizers/sm3.js';
export { Yogi, type YogiOptions } from './optimizers/yogi.js';
export { constant } from './schedules/constant.js';
export { cosineDecay } from './schedules/cosine-decay.js';
export { type ExponentialDecayOptions, exponentialDecay } from './schedules/exponential-decay.js';
export { linear } from './schedules/linear.js';
export { linearRampupSqrtDecay } from './schedules/linear-rampup-sqrt-decay.js';
export { piecewiseLinear } from './schedules/piecewise-linear.js';
// Schedules.
export type { ScalarOrSchedule, Schedule } from './schedules/schedule.js';
export { warmupCosineDecay } from './schedules/warmup-cosine-decay.js';
// Transformations and their combinators.
export { type EmptyState, type GradientTransformation, identity } from './transform.js';
export {
  type AdamScalarCotangents,
  type AdamStepHyperparams,
  type AdamStepOutputs,
  adamLeafVjp,
  adamStep,
  FUSED_ADAM_MAX_LEAF_SIZE,
  type StackedAdamStepHyperparams,
  stackedAdamStep,
} from './transforms/adam-op.js';
export { addDecayedWeights, type Mask } from './transforms/add-decayed-weights.js';
export { clip } from './transforms/clip.js';
export { clipByBlockRms } from './transforms/clip-by-block-rms.js';
export { clipByGlobalNorm } from './transforms/clip-by-global-norm.js';
export { type EmaState, ema } from './transforms/ema.js';
export { scale } from './transforms/scale.js';
export { type ScaleByAdamOptions, type ScaleByAdamState, scaleByAdam } from './transforms/scale-by-adam.js';
export { scaleByAdamax } from './transforms/scale-by-adamax.js';
export { type ScaleByBeliefOptions, scaleByBelief } from './transforms/scale-by-belief.js';
export {
  type FactoredState,
  factoredDims,
  type ScaleByFactoredRmsOptions,
  scaleByFactoredRms,
} from './transforms/scale-by-factored-rms.js';
export { scaleByLearningRate } from './transforms/scale-by-learning-rate.js';
export { type ScaleByLionState, scaleByLion } from './transforms/scale-by-lion.js';
export { type ScaleByNadamwOptions, scaleByNadamw } from './transforms/scale-by-nadamw.js';
export { scaleByParamBlockRms } from './transforms/scale-by-param-block-rms.js';
export { type ScaleByRAdamOptions, scaleByRAdam } from './transforms/scale-by-radam.js';
export { type ScaleByRmsOptions, type ScaleByRmsState, scaleByRms } from './transforms/scale-by-rms.js';
export { type ScaleByRssState, scaleByRss } from './transforms/scale-by-rss.js';
export { type ScaleByScheduleState, scaleBySchedule } from './transforms/scale-by-schedule.js';
export { type ScaleBySm3State, scaleBySm3 } from './transforms/scale-by-sm3.js';
export { type ScaleByTrustRatioOptions, scaleByTrustRatio } from './transforms/scale-by-trust-ratio.js';
export { type ScaleByYogiOptions, scaleByYogi } from './transforms/scale-by-yogi.js';
export { type TraceState, trace } from './transforms/trace.js';
// Optimizer wrappers.
export { GradientAccumulator, type GradientAccumulatorState } from './wrappers/gradient-accumulator.js';
export { GradientClipOptimizer } from './wrappers/gradient-clip-optimizer.js';
export { GraftedOptimizer, type GraftedOptimizerState } from './wrappers/grafted-optimizer.js';
export { WeightDecayWrapper } from './wrappers/weight-decay-wrapper.js';
