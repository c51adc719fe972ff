import * as tf from '@tensorflow/tfjs-core';
import type { Linear } from './nn.js';

/*
 * Per-tensor work on a raveled `[N, k]` matrix done on each tensor's own rows (a row slice
 * of the raveled matrix, reshaped to the tensor's shape when needed). Reductions are plain
 * `mean`s over a tensor's view, so memory stays O(N) whatever the number of tensors, rows
 * or columns (a one-hot membership matrix is `N x segments` and overflows wasm memory at
 * 1M parameters). Everything here is differentiable to any order.
 */

/** The rows of `x` (`[N, k]`) belonging to each tensor, for tensors of the given sizes. */
export function leafRows(x: tf.Tensor2D, sizes: readonly number[]): tf.Tensor2D[] {
  return (sizes.length === 1 ? [x] : tf.split(x, sizes as number[], 0)) as tf.Tensor2D[];
}

/**
 * The first layer of a per-parameter MLP applied to per-tensor second-moment-normalised
 * features: for each tensor t, `sum_b (x[t][b] * rsqrt(eps + mean(x[t][b]^2))) @ w_b`, with
 * `x[t]` given as column blocks `x[t][0], x[t][1], ...` (together the layer's leading
 * input rows, in order). The normaliser is folded into the weights (`x @ (s * w)`), so no
 * normalised copy of the features is made; the per-tensor results are stacked back into
 * `[N, fanOut]` rows. `extra` (inputs shared by every row: step embeddings) goes through
 * the trailing rows of the weight matrix once. Includes the bias, not the activation.
 * A layer wider than its inputs (`MLPLOpt`'s 32) takes the other order: the narrow
 * inputs are normalised per tensor and stacked, then one matmul runs over all rows.
 */
export function normalizedFirstLayer(
  layer: Linear,
  blocks: readonly (readonly tf.Tensor2D[])[],
  extra?: tf.Tensor,
  eps = 1e-5,
): tf.Tensor2D {
  const fanOut = layer.w.shape[1];
  const widths = blocks[0]!.map((b) => b.shape[1]);
  const nx = widths.reduce((a, b) => a + b, 0);
  const ws: tf.Tensor2D[] = [];
  let off = 0;
  for (const wd of widths) {
    ws.push(tf.slice(layer.w, [off, 0], [wd, fanOut]) as tf.Tensor2D);
    off += wd;
  }
  const scales = blocks.map((leaf) => leaf.map((x) => tf.rsqrt(tf.add(tf.mean(tf.square(x), 0), eps))));
  if (fanOut > nx) {
    // A wide layer: normalising the narrow inputs is cheaper than stacking wide outputs.
    const rows = blocks.map((leaf, t) => {
      const xs = leaf.map((x, j) => tf.mul(x, scales[t]![j]!));
      return xs.length === 1 ? xs[0]! : tf.concat(xs, 1);
    });
    const x = (rows.length === 1 ? rows[0]! : tf.concat(rows, 0)) as tf.Tensor2D;
    return tf.add(
      tf.matMul(x, tf.slice(layer.w, [0, 0], [nx, fanOut]) as tf.Tensor2D),
      firstShift(layer, nx, extra),
    ) as tf.Tensor2D;
  }
  const hs = blocks.map((leaf, t) => {
    const parts = leaf.map((x, j) => tf.matMul(x, tf.mul(tf.reshape(scales[t]![j]!, [-1, 1]), ws[j]!) as tf.Tensor2D));
    return (parts.length === 1 ? parts[0]! : tf.addN(parts)) as tf.Tensor2D;
  });
  const h = hs.length === 1 ? hs[0]! : (tf.concat(hs, 0) as tf.Tensor2D);
  return tf.add(h, firstShift(layer, nx, extra)) as tf.Tensor2D;
}

/** The first layer's bias plus `extra` through the weight rows after the first `nx`. */
function firstShift(layer: Linear, nx: number, extra?: tf.Tensor): tf.Tensor {
  if (extra === undefined) return layer.b;
  const we = tf.slice(layer.w, [nx, 0], [-1, layer.w.shape[1]]) as tf.Tensor2D;
  return tf.add(tf.matMul(tf.reshape(extra, [1, -1]) as tf.Tensor2D, we), layer.b);
}

/**
 * A per-parameter MLP over per-tensor normalised features (see `normalizedFirstLayer`):
 * ReLU between layers, none after the last. Equals `applyMlp(layers, normalised, extra)`.
 */
export function applyNormalizedMlp(
  layers: readonly Linear[],
  blocks: readonly (readonly tf.Tensor2D[])[],
  extra?: tf.Tensor,
): tf.Tensor2D {
  let h = normalizedFirstLayer(layers[0]!, blocks, extra);
  for (let i = 1; i < layers.length; i++) {
    h = tf.relu(h);
    h = tf.add(tf.matMul(h, layers[i]!.w), layers[i]!.b) as tf.Tensor2D;
  }
  return h;
}
