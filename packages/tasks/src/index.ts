/**
 * @packageDocumentation
 * Tasks and task families to train optimizers on, as learned_optimization defines them:
 * quadratics, image MLPs and conv nets on real data, character RNN and transformer language
 * models on real text, parametric MLP and language-model families, a registry
 * by name, and batched evaluation of K parameter sets in one call.
 */

export { ACTIVATIONS, type Activation, type ActivationName, getActivation } from './activations.js';
export {
  AUGMENTATION_KINDS,
  type AugmentationCfg,
  type AugmentationKind,
  type AugmentationSpec,
  type AugmentedTaskCfg,
  AugmentedTaskFamily,
  applyAugmentation,
  parseAugmentationSpec,
  sampleAugmentation,
} from './augmentation/augmented-family.js';
export { ReducedBatchsize } from './augmentation/reduced-batchsize.js';
export { type ParamScale, ReparamWeights } from './augmentation/reparam-weights.js';
export { ScaleGradient, ScaleLoss } from './augmentation/scale-loss.js';
export { TaskWrapper } from './augmentation/task-wrapper.js';
export { BaseTask, BaseTaskFamily } from './base-task.js';
export {
  type BatchedLossOptions,
  type BatchedTask,
  batchedLoss,
  hasBatchedLoss,
  stackParams,
  unstackParams,
} from './batched.js';
export { checkParamShapes, type ShapeTree } from './check.js';
export {
  type CifarName,
  type CifarOptions,
  type CifarRecords,
  cifarDatasets,
  cifarToImages,
  parseCifarBinary,
} from './cifar.js';
export * as conv from './conv.js';
export { type ConvParams, ConvTask, type ConvTaskOptions } from './conv-task.js';
export {
  describeTaskDistribution,
  getTaskDistribution,
  listTaskDistributions,
  type MixtureComponentSpec,
  mixtureFromSpecs,
  registerTaskDistribution,
  type TaskDistributionFactory,
} from './distribution-registry.js';
export { sampleTaskFamilyFromTaskFns, singleTaskToFamily } from './family.js';
export { fusedActivationName, type MlpBackward, type MlpForward, mlpKernelMath } from './fused-mlp.js';
export { generatedDatasets } from './generated-datasets.js';
export { ImageConvDistribution, type ImageConvFamilyCfg, imageConvFlopsPerStep } from './image-conv-distribution.js';
export { ImageConvFamily, type ImageConvFamilyOptions } from './image-conv-family.js';
export { type ImageDatasetName, type ImageTaskOptions, loadTaskDatasets } from './image-data.js';
export {
  IMAGE_DISTRIBUTION_DATASETS,
  type ImageDistributionOptions,
  type ResolvedImageDistributionOptions,
} from './image-distribution-common.js';
export type { ImageTaskFactory } from './image-mlp.js';
export * as imageMlp from './image-mlp.js';
export { ImageMLPDistribution, type ImageMLPFamilyCfg, imageMLPFlopsPerStep } from './image-mlp-distribution.js';
export { ImageMLPFamily, type ParametricActivationInitCfg, sampleActivationAndInit } from './image-mlp-family.js';
export { type ImageLossKind, ImageMLPTask, type ImageMLPTaskOptions, imageShapeOf } from './image-mlp-task.js';
export { fanInWeight, KeySequence, truncatedNormalInit } from './init.js';
export {
  type InitializerCfg,
  type InitializerName,
  orthogonalInit,
  SAMPLED_INITIALIZERS,
  sampledInit,
  sampleInitializer,
} from './initializers.js';
export type { TextTaskFactory } from './lm.js';
export * as lm from './lm.js';
export { asTaskDatasets, checkTextBatch, checkVocabulary, lmNormalizer, nextTokenLoss } from './lm-common.js';
export { clipNormalizer, meanSoftmaxCrossEntropy, softmaxCrossEntropy } from './losses.js';
export { type MixtureComponent, type MixtureFamilyCfg, MixtureTaskDistribution } from './mixture-distribution.js';
export {
  initMLP,
  type LayerNormParams,
  type LinearParams,
  layerNorm,
  linear,
  linearName,
  type MLPParams,
  type MLPSpec,
  type ModuleParams,
  mlpForward,
  mlpParamShapes,
} from './mlp.js';
export { type NamedTaskCfg, NamedTasksDistribution } from './named-tasks-distribution.js';
export {
  choice,
  logInt,
  ParametricImageMLP,
  type ParametricImageMLPCfg,
  type ParametricImageMLPOptions,
  SAMPLED_ACTIVATIONS,
} from './parametric-image-mlp.js';
export {
  type ParametricLMOptions,
  ParametricLMRNN,
  type ParametricLMRNNCfg,
  ParametricLMTransformer,
  type ParametricLMTransformerCfg,
} from './parametric-lm.js';
export { parametricClassifierNormalizer } from './parametric-normalizer.js';
export {
  BatchQuadraticTask,
  FixedDimQuadraticDataTask,
  FixedDimQuadraticFamily,
  FixedDimQuadraticFamilyData,
  FixedDimQuadraticTask,
  LogQuadraticTask,
  type NoisyQuadraticCfg,
  NoisyQuadraticFamily,
  NoisyQuadraticTask,
  QuadraticTask,
  type SumQuadraticParams,
  SumQuadraticTask,
} from './quadratics.js';
export { getTask, listTasks, registerTask, similarTaskNames, type TaskFactory } from './registry.js';
export { RNN_CELLS, type RNNCellName, type RNNLMParams, RNNLMTask, type RNNLMTaskOptions } from './rnn-lm.js';
export type { Aux, Task, TaskFamily } from './task.js';
export { sampleTaskFamily, type TaskDistribution } from './task-distribution.js';
export { loadTextTaskDatasets, type TextTaskOptions } from './text-data.js';
export { type TransformerLMParams, TransformerLMTask, type TransformerLMTaskOptions } from './transformer-lm.js';
