import * as tf from '@tensorflow/tfjs-core';
import { elementwiseGradients } from './elementwise.js';
import { layerGradients } from './layers.js';
import { reductionGradients } from './reductions.js';
import { shapeGradients } from './shape.js';

/**
 * Every gradient lopt registers with tfjs-core. tfjs-core's own gradients are missing
 * under plain Node (its CJS bundle registers none) and several are not differentiable
 * twice: they read the op's saved *output*, which tfjs clones onto the tape before the
 * op itself, so a second derivative finds no path (tfjs issue 3252). Ours read only
 * inputs and are written with ops whose gradients are registered here too, so any
 * gradient can be differentiated again (meta-gradients need this).
 */
export const gradConfigs: readonly tf.GradConfig[] = [
  ...elementwiseGradients,
  ...reductionGradients,
  ...shapeGradients,
  ...layerGradients,
];

let installed = false;

/**
 * Registers lopt's gradients (idempotent and cheap). Called by `grad` and
 * `valueAndGrad`; re-installs ours if another package (e.g. `@tensorflow/tfjs`)
 * registered its own afterwards.
 */
export function ensureGradients(): void {
  // A replaced gradient can be silently wrong in second order (tfjs's Tanh gives 0), so
  // every entry is checked; the lookups cost microseconds.
  if (installed && gradConfigs.every((c) => tf.getGradient(c.kernelName) === c)) return;
  for (const config of gradConfigs) {
    if (tf.getGradient(config.kernelName) !== config) tf.registerGradient(config);
  }
  installed = true;
}

/** The kernel names lopt has a (twice-differentiable) gradient for. */
export function registeredGradientKernels(): string[] {
  return gradConfigs.map((c) => c.kernelName);
}

ensureGradients();
