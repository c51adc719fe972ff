import * as tf from '@tensorflow/tfjs-core';
import type { AdafacMLPLOptTheta } from './adafac-mlp-lopt.js';
import { ADAFAC_SMALL_FC_V1_PROVENANCE, ADAFAC_SMALL_FC_V1_WEIGHTS } from './adafac-small-fc-v1-weights.js';
import type { BundledThetaProvenance } from './bundled-theta.js';
import type { Linear } from './nn.js';
import { tidyTree } from './tidy-tree.js';

/**
 * Where {@link adafacSmallFcV1Theta} comes from: the recipe (`recipes/adafac-small-fc-v1.json`,
 * its SHA-256 and configuration fingerprint), the outer step of meta-training it was taken
 * at (`outerStep`, out of the recipe's `outerSteps`), the meta-loss there, the SHA-256 of
 * the checkpoint it was read from and of its values, and the date it was bundled.
 */
export const adafacSmallFcV1Provenance: BundledThetaProvenance = ADAFAC_SMALL_FC_V1_PROVENANCE;

function leaf(path: string): tf.Tensor {
  const e = ADAFAC_SMALL_FC_V1_WEIGHTS.find((l) => l.path === path);
  if (!e) throw new Error(`adafacSmallFcV1Theta: the bundled theta has no '${path}' (a damaged installation?)`);
  return tf.tensor(e.values as number[], e.shape as number[], 'float32');
}

/**
 * lopt's own meta-trained learned optimizer, version 1: the theta of `AdafacMLPLOpt`
 * (hidden size 4, two hidden layers: the reference's small_fc_lopt architecture)
 * meta-trained with PES by the recipe `recipes/adafac-small-fc-v1.json` on small image
 * MLPs and conv nets over Fashion-MNIST and MNIST with task augmentation. Use it with the
 * recipe's options:
 *
 * ```ts
 * const opt = new AdafacMLPLOpt({ hiddenSize: 4, hiddenLayers: 2 }).optFn(adafacSmallFcV1Theta());
 * ```
 *
 * The numbers are those of one checkpoint of that meta-training run:
 * `adafacSmallFcV1Provenance.outerStep` says which outer step (of the recipe's 3000), so
 * it may be an early one rather than the end of the run. Bundled in the package: no file
 * system or network is needed, in Node or in a browser. The caller owns the tensors
 * (`treeDispose(theta)` frees them).
 */
export function adafacSmallFcV1Theta(): AdafacMLPLOptTheta {
  return tidyTree(() => {
    const layers = ADAFAC_SMALL_FC_V1_WEIGHTS.filter((l) => l.path.endsWith('.w')).length;
    const nn: Linear[] = Array.from({ length: layers }, (_, i) => ({
      w: leaf(`.nn[${i}].w`) as tf.Tensor2D,
      b: leaf(`.nn[${i}].b`) as tf.Tensor1D,
    }));
    return {
      momentumDecays: leaf('.momentumDecays') as tf.Tensor1D,
      rmsDecays: leaf('.rmsDecays') as tf.Tensor1D,
      adafactorDecays: leaf('.adafactorDecays') as tf.Tensor1D,
      nn,
    };
  });
}
