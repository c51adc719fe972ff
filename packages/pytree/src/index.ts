/**
 * @packageDocumentation
 * Pytrees of TensorFlow.js tensors: tree utilities, ravel, JAX-style PRNG keys, and
 * pytree `grad` / `valueAndGrad` whose gradients are differentiable again.
 */
import './gradients/registry.js';
import './inspect.js';
import * as random from './random.js';

export { random };
export type { PRNGKey } from './random.js';
export {
  type PyTree,
  type TreeDef,
  type TreeMapped,
  assertSameStructure,
  isLeaf,
  isPlainObject,
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
  tidy,
  treeZerosLike,
} from './tree.js';
export { type Raveled, ravelPytree } from './ravel.js';
export { type Argnums, type GradOptions, type GradsOf, grad, valueAndGrad } from './autodiff.js';
export { ensureGradients, registeredGradientKernels } from './gradients/registry.js';
export { logSoftmax, logSumExp, stopGradient } from './ops.js';
export { type BackendName, setupBackend } from './backend.js';
export {
  type FusedContext,
  type FusedOutput,
  type Mat,
  FUSED_BACKENDS,
  kernelRegistered,
  registerFusedKernel,
  runFusedKernel,
} from './fused.js';
export {
  type FastPathCount,
  type Op,
  type OpDefinition,
  defineOp,
  fastPathCounts,
  fastPathsActive,
  fastPathsEnabled,
  gradientDepth,
  isRecordingGradients,
  resetFastPathCounts,
  setFastPathsEnabled,
} from './fast-op.js';
