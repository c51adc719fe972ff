/**
 * @packageDocumentation
 * Pytrees of TensorFlow.js tensors: tree utilities, ravel, JAX-style PRNG keys, and
 * pytree `grad` / `valueAndGrad` whose gradients are differentiable again.
 */
import './gradients/registry.js';
import './inspect.js';
import * as random from './random.js';

export { type Argnums, type GradOptions, type GradsOf, grad, valueAndGrad } from './autodiff.js';
export { type BackendName, setupBackend } from './backend.js';
export { type ClosestNamesOptions, closestNames, editDistance } from './closest-names.js';
export { isDifferentiated } from './differentiated.js';
export {
  defineOp,
  type FastPathCount,
  fastPathCounts,
  fastPathsActive,
  fastPathsEnabled,
  gradientDepth,
  isRecordingGradients,
  type Op,
  type OpDefinition,
  resetFastPathCounts,
  setFastPathsEnabled,
} from './fast-op.js';
export {
  type DenseLayer,
  FUSED_BACKENDS,
  type FusedContext,
  type FusedHeap,
  type FusedOutput,
  kernelRegistered,
  type Mat,
  registerFusedKernel,
  runFusedKernel,
  sharingTransposes,
  stackedFusedBody,
} from './fused.js';
export { ensureGradients, registeredGradientKernels } from './gradients/registry.js';
export { logSoftmax, logSumExp, stopGradient } from './ops.js';
export type { PRNGKey } from './random.js';
export { type Raveled, ravelPytree } from './ravel.js';
export { type StackedRule, stackedOp } from './stacked-op.js';
export {
  assertSameStructure,
  isLeaf,
  isPlainObject,
  type PyTree,
  type TreeDef,
  type TreeMapped,
  tidy,
  treeAdd,
  treeDefEqual,
  treeDefNumLeaves,
  treeDispose,
  treeDot,
  treeFlatten,
  treeLeaves,
  treeMap,
  treeNorm,
  treeScale,
  treeStructure,
  treeSub,
  treeUnflatten,
  treeZerosLike,
} from './tree.js';
export { random };
