/**
 * @packageDocumentation
 * Tasks and task families to train optimizers on, as learned_optimization defines them:
 * quadratics, image MLPs and conv nets on real data, character RNN and transformer language
 * models on real text, parametric MLP and language-model families, a registry
 * by name, and batched evaluation of K parameter sets in one call.
 */
export type { Aux, Task, TaskFamily } from './task.js';
export { BaseTask, BaseTaskFamily } from './base-task.js';
export { type BatchedLossOptions, type BatchedTask, batchedLoss, hasBatchedLoss, stackParams, unstackParams } from './batched.js';
export { clipNormalizer, meanSoftmaxCrossEntropy, softmaxCrossEntropy } from './losses.js';
export { type ShapeTree, checkParamShapes } from './check.js';
export { fanInWeight, KeySequence, truncatedNormalInit } from './init.js';
export { ACTIVATIONS, type Activation, type ActivationName, getActivation } from './activations.js';
export {
  initMLP,
  type LayerNormParams,
  type LinearParams,
  layerNorm,
  linear,
  linearName,
  type MLPParams,
  type MLPSpec,
  mlpForward,
  mlpParamShapes,
  type ModuleParams,
} from './mlp.js';
export { ImageMLPTask, type ImageLossKind, type ImageMLPTaskOptions, imageShapeOf } from './image-mlp-task.js';
export { type ImageDatasetName, type ImageTaskOptions, loadTaskDatasets } from './image-data.js';
export { type CifarName, type CifarOptions, type CifarRecords, cifarDatasets, cifarToImages, parseCifarBinary } from './cifar.js';
export * as imageMlp from './image-mlp.js';
export * as conv from './conv.js';
export { ConvTask, type ConvParams, type ConvTaskOptions } from './conv-task.js';
export { getTask, listTasks, registerTask, similarTaskNames, type TaskFactory } from './registry.js';
export { sampleTaskFamilyFromTaskFns, singleTaskToFamily } from './family.js';
export type { ImageTaskFactory } from './image-mlp.js';
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
export { generatedDatasets } from './generated-datasets.js';
export { type TextTaskOptions, loadTextTaskDatasets } from './text-data.js';
export { asTaskDatasets, checkTextBatch, checkVocabulary, lmNormalizer, nextTokenLoss } from './lm-common.js';
export { RNN_CELLS, type RNNCellName, type RNNLMParams, RNNLMTask, type RNNLMTaskOptions } from './rnn-lm.js';
export { type TransformerLMParams, TransformerLMTask, type TransformerLMTaskOptions } from './transformer-lm.js';
export * as lm from './lm.js';
export {
  ParametricLMRNN,
  type ParametricLMRNNCfg,
  type ParametricLMOptions,
  ParametricLMTransformer,
  type ParametricLMTransformerCfg,
} from './parametric-lm.js';
export type { TextTaskFactory } from './lm.js';
export {
  choice,
  logInt,
  ParametricImageMLP,
  type ParametricImageMLPCfg,
  type ParametricImageMLPOptions,
  SAMPLED_ACTIVATIONS,
} from './parametric-image-mlp.js';
export {
  type InitializerCfg,
  type InitializerName,
  orthogonalInit,
  SAMPLED_INITIALIZERS,
  sampledInit,
  sampleInitializer,
} from './initializers.js';
export { parametricClassifierNormalizer } from './parametric-normalizer.js';
export { ImageMLPFamily, type ParametricActivationInitCfg, sampleActivationAndInit } from './image-mlp-family.js';
export { ImageConvFamily, type ImageConvFamilyOptions } from './image-conv-family.js';
export { sampleTaskFamily, type TaskDistribution } from './task-distribution.js';
export {
  IMAGE_DISTRIBUTION_DATASETS,
  type ImageDistributionOptions,
  type ResolvedImageDistributionOptions,
} from './image-distribution-common.js';
export { ImageMLPDistribution, type ImageMLPFamilyCfg, imageMLPFlopsPerStep } from './image-mlp-distribution.js';
export { ImageConvDistribution, type ImageConvFamilyCfg, imageConvFlopsPerStep } from './image-conv-distribution.js';
export { type MixtureComponent, type MixtureFamilyCfg, MixtureTaskDistribution } from './mixture-distribution.js';
export { type NamedTaskCfg, NamedTasksDistribution } from './named-tasks-distribution.js';
export {
  describeTaskDistribution,
  getTaskDistribution,
  listTaskDistributions,
  type MixtureComponentSpec,
  mixtureFromSpecs,
  registerTaskDistribution,
  type TaskDistributionFactory,
} from './distribution-registry.js';
export { TaskWrapper } from './augmentation/task-wrapper.js';
export { type ParamScale, ReparamWeights } from './augmentation/reparam-weights.js';
export { ScaleGradient, ScaleLoss } from './augmentation/scale-loss.js';
export { ReducedBatchsize } from './augmentation/reduced-batchsize.js';
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
