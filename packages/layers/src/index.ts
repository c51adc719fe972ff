/**
 * @packageDocumentation
 * Every lopt optimizer — hand-designed or learned — as a `tf.Optimizer` for
 * `@tensorflow/tfjs-layers`' `model.compile` and `model.fit`, with its state saved and
 * restored by `model.save(..., { includeOptimizer: true })` and `tf.loadLayersModel`.
 */
export { type AsTfOptimizerOptions, asTfOptimizer, LoptOptimizer, type NamedTensor } from './lopt-optimizer.js';
export { registerOptimizer } from './registry.js';
export { type TfjsAdamOptions, tfjsAdam } from './tfjs-adam.js';
