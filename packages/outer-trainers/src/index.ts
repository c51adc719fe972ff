/**
 * @packageDocumentation
 * Meta-training for learned optimizers, after learned_optimization's `outer_trainers`:
 * truncation schedules, K inner problems advanced together (`VectorizedLOptTruncatedStep`),
 * ES / PES / truncated-backprop gradient estimators, gradient learners, and
 * checkpointed meta-training loops. File I/O lives in `@lopt/outer-trainers/node`.
 */

// The tasks package's, re-exported: meta-training code takes families.
export { singleTaskToFamily } from '@lopt/tasks';
export {
  type AdamGrid,
  type AdamGridOptions,
  adamLabel,
  adamLearningRateGrid,
  type CompareWithAdamOptions,
  type Comparison,
  type ComparisonRow,
  compareWithAdam,
  DEFAULT_ADAM_LEARNING_RATES,
} from './adam-baselines.js';
export {
  autoLosses,
  type BatchedLossFn,
  type LossesFn,
  loopedLosses,
  perProblemBatchedLoss,
  stackBatches,
  stackedLosses,
} from './batched-loss.js';
export {
  assertSameTheta,
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  configDifferences,
  configFingerprint,
  type DeserializeCheckpointOptions,
  deserializeCheckpoint,
  type MetaTrainingCheckpoint,
  serializeCheckpoint,
} from './checkpoint.js';
export {
  samplePerturbations,
  truncatedUnroll,
  type VectorPerturbations,
  vectorSamplePerturbations,
} from './common.js';
export { type EsGradOptions, esGrad } from './es-grad.js';
export { comparisonReport, formatComparisonTable, formatNumber, type PlotSeries, plotSeries } from './eval-report.js';
export { type SplitCurve, type TrainingCurves, type TrainingCurvesOptions, trainingCurves } from './eval-training.js';
export {
  type EvalResult,
  type EvaluateOptimizerOptions,
  evaluateOptimizer,
  type SeedStats,
  seedStats,
} from './evaluate-optimizer.js';
export { type EmptyState, FullES, type FullESOptions } from './full-es.js';
export { FullGrad, type FullGradOptions } from './full-grad.js';
export {
  GradientEstimator,
  type GradientEstimatorOut,
  type Metrics,
  type UnrollInfo,
  type WorkerWeights,
} from './gradient-estimator.js';
export {
  type AggregatedGradient,
  GradientLearner,
  type GradientLearnerOptions,
  type GradientLearnerState,
  type GradientWorkerComputeOptions,
  gradientWorkerCompute,
  type MetaInitializer,
  SingleMachineGradientLearner,
  type SingleMachineState,
  type SingleMachineUpdate,
  type WorkerComputeOut,
} from './gradient-learner.js';
export {
  type LOptStepData,
  type LOptTruncatedUnrollState,
  VectorizedLOptTruncatedStep,
  type VectorizedLOptTruncatedStepOptions,
} from './lopt-truncated-step.js';
export {
  type CheckpointStore,
  type MetaTrainOptions,
  type MetaTrainResult,
  type MetaTrainStart,
  metaTrain,
} from './meta-train.js';
export { metricsLine, type OuterStepRecord, parseMetricsLines } from './metrics.js';
export { normalizedScore } from './normalized-score.js';
export type { OuterState } from './outer-state.js';
export {
  parseRecipe,
  RECIPE_ESTIMATORS,
  RECIPE_FORMAT,
  RECIPE_LOPTS,
  RECIPE_SCHEDULES,
  RECIPE_VERSION,
  type Recipe,
  RecipeError,
  recipeIdentity,
} from './recipe.js';
export { RecipeTrainer, type RecipeTrainerOptions, recipeLearnedOptimizer } from './recipe-trainer.js';
export { base64ToBytes, bytesToBase64, decodeTree, type EncodedTree, encodeTree } from './serialization.js';
export { disposeExcept } from './tree-utils.js';
export { TruncatedES, type TruncatedESOptions } from './truncated-es.js';
export { TruncatedGrad, type TruncatedGradOptions } from './truncated-grad.js';
export { type PESWorkerState, pesGrad, TruncatedPES, type TruncatedPESOptions } from './truncated-pes.js';
export type {
  InitStepStateOptions,
  TruncatedStep,
  TruncatedUnrollOut,
  UnrollStepOptions,
} from './truncated-step.js';
export {
  ConstantTruncationSchedule,
  type ConstantTruncationState,
  LogUniformLengthSchedule,
  NeverEndingTruncationSchedule,
  type ScalarSchedule,
  type ScheduledTruncationOptions,
  ScheduledTruncationSchedule,
  TruncationSchedule,
} from './truncation-schedule.js';
export { type UnrolledMetaLossOptions, unrolledMetaLoss } from './unrolled-meta-loss.js';
