/**
 * @packageDocumentation
 * Learned optimizers: `init(key) -> theta`, `optFn(theta) -> Optimizer`, differentiable
 * in theta so meta-gradients flow through unrolled inner training.
 */

export {
  AdafacMLPLOpt,
  type AdafacMLPLOptOptions,
  type AdafacMLPLOptState,
  type AdafacMLPLOptTheta,
  type StackedAdafacMLPLOptState,
} from './adafac-mlp-lopt.js';
export { adafacSmallFcV1Provenance, adafacSmallFcV1Theta } from './adafac-small-fc-v1-theta.js';
export type { BundledThetaLeaf, BundledThetaProvenance } from './bundled-theta.js';
export {
  Celo2,
  type Celo2LeafState,
  type Celo2Options,
  type Celo2State,
} from './celo2.js';
export { type Celo2AdamWRule, type Celo2Leaf, type Celo2Mask, celo2AdamWLeaves } from './celo2-leaves.js';
export { type Celo2Theta, celo2Theta } from './celo2-theta.js';
export type { FactoredLayout } from './factored-layout.js';
export {
  type DisposableOptimizer,
  LearnableAdam,
  type LearnableAdamOptions,
  type LearnableAdamTheta,
  LearnableSGD,
  LearnableSGDM,
  type LearnableSGDMTheta,
  type LearnableSGDTheta,
  type StackedLearnableAdamState,
} from './learnable-hparams.js';
export { LearnedOptimizer } from './learned-optimizer.js';
export { type EmptyTheta, learnedOptimizerFromOpt } from './learned-optimizer-from-opt.js';
export {
  MLPLOpt,
  type MLPLOptOptions,
  type MLPLOptState,
  type MLPLOptTheta,
  type StackedMLPLOptState,
} from './mlp-lopt.js';
export type { Linear, LSTMState } from './nn.js';
export { NNAdam, type NNAdamOptions, type NNAdamState, type NNAdamTheta } from './nn-adam.js';
export {
  type LossNormalizerState,
  RNNMLPLOpt,
  type RNNMLPLOptOptions,
  type RNNMLPLOptState,
  type RNNMLPLOptTheta,
  type RNNMLPLOptUpdateOptions,
} from './rnn-mlp-lopt.js';
export { stackedCounts, stackOptStates, stackTrees, unstackTree } from './stacked-trees.js';
export { SumLearnedOptimizer, SumOptimizer, type SumOptimizerState, type SumTheta } from './sum-learned-optimizer.js';
export { loadTheta, saveTheta } from './theta-file.js';
export {
  deserializeTheta,
  serializeTheta,
  THETA_FORMAT,
  THETA_FORMAT_VERSION,
  type ThetaFile,
  type ThetaFileLeaf,
} from './theta-format.js';
export {
  PerProblemVectorizedOptimizer,
  type StackedOptState,
  type StackedUpdateOptions,
  VectorizedOptimizer,
} from './vectorized-optimizer.js';
