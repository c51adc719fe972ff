import * as tf from '@tensorflow/tfjs-core';
import { CELO2_WEIGHTS } from './celo2-weights.js';
import type { Linear } from './nn.js';
import { tidyTree } from './tidy-tree.js';

/**
 * Meta-parameters of `Celo2`: its per-parameter update network, three dense layers
 * `features -> 8 -> 8 -> 3` with ReLU between them (`{ w: [fanIn, fanOut], b: [fanOut] }`).
 *
 * The reference splits the first layer into one matrix per feature group and sums their
 * products; here they are the row blocks of one matrix, in group order: gradient,
 * clipped gradient, parameter, momenta, RMS, momenta × RMS⁻½, RMS⁻½, factored gradient,
 * gradient × RMS⁻½, row and column second moments, their inverse square roots, factored
 * momenta (widths 1, 1, 1, 3, 1, 3, 1, 3, 1, 3, 3, 3, 3, 3 with the default decays: 30
 * rows). Output 0 is the direction, output 1 the log-magnitude, output 2 is unused.
 */
export interface Celo2Theta {
  /** The three dense layers, input first. */
  mlp: Linear[];
}

function tensorOf(name: string): tf.Tensor2D | tf.Tensor1D {
  const e = CELO2_WEIGHTS[name];
  if (!e) throw new Error(`celo2Theta: the bundled weights have no '${name}' (a damaged installation?)`);
  return e.shape.length === 1
    ? tf.tensor1d(e.values as number[])
    : tf.tensor2d(e.values as number[], e.shape as [number, number]);
}

/**
 * Celo2's published meta-parameters (PyLO's `celo2_weights.pt`, 347 numbers; BSD-3-Clause,
 * see the package's `LICENSE-PyLO`), as a fresh theta for `new Celo2().optFn(theta)`.
 * Bundled in the package: no file system or network is needed, in Node or in a browser.
 * The caller owns the tensors (`treeDispose(theta)` frees them).
 */
export function celo2Theta(): Celo2Theta {
  return tidyTree(() => {
    // The state_dict stores [out, in] matrices; lopt's layers take [in, out].
    const groups = Array.from({ length: 14 }, (_, i) => tensorOf(`first_layer_weights.${i}`) as tf.Tensor2D);
    const layer = (w: tf.Tensor2D, b: string): Linear => ({
      w: tf.transpose(w) as tf.Tensor2D,
      b: tensorOf(b) as tf.Tensor1D,
    });
    return {
      mlp: [
        layer(tf.concat(groups, 1) as tf.Tensor2D, 'first_layer_bias'),
        layer(tensorOf('hidden.weight') as tf.Tensor2D, 'hidden.bias'),
        layer(tensorOf('output.weight') as tf.Tensor2D, 'output.bias'),
      ],
    };
  });
}
