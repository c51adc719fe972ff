import { fashionMnistDatasets } from '@lopt/datasets';
import { random } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** Fashion-MNIST at 8x8 as tfjs-layers wants it: flat images [N, 64] and one-hot labels [N, 10]. */
export interface FashionArrays {
  x: tf.Tensor2D;
  y: tf.Tensor2D;
  labels: Int32Array;
}

/** The first `n` examples of a split of Fashion-MNIST (8x8, in [0, 1]). */
export async function fashion(split: 'train' | 'test', n: number): Promise<FashionArrays> {
  const ds = await fashionMnistDatasets({ imageSize: [8, 8] });
  const a = ds.arrays(split);
  const count = Math.min(n, a.count);
  const x = tf.tensor2d(a.images.subarray(0, count * 64), [count, 64]);
  const labels = a.labels.slice(0, count);
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), 10), 'float32')) as tf.Tensor2D;
  return { x, y, labels };
}

/** A Sequential MLP 64 -> hidden (relu) -> 10 (softmax), weights drawn with `seed`. */
export function mlp(hidden = 64, seed = 1): tfl.Sequential {
  const model = tfl.sequential();
  model.add(
    tfl.layers.dense({
      inputShape: [64],
      units: hidden,
      activation: 'relu',
      kernelInitializer: tfl.initializers.glorotUniform({ seed }),
    }),
  );
  model.add(
    tfl.layers.dense({
      units: 10,
      activation: 'softmax',
      kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }),
    }),
  );
  return model;
}

/** The model's weights as Float32Arrays. */
export function weightsOf(model: tfl.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

/** max over tensors of ||a - b||_2 / ||b||_2, computed in float64. */
export function maxRelativeError(a: Float32Array[], b: Float32Array[]): number {
  let worst = 0;
  a.forEach((x, i) => {
    const y = b[i]!;
    let d = 0;
    let n = 0;
    for (let j = 0; j < x.length; j++) {
      d += (x[j]! - y[j]!) ** 2;
      n += y[j]! ** 2;
    }
    worst = Math.max(worst, Math.sqrt(d) / Math.max(Math.sqrt(n), 1e-30));
  });
  return worst;
}

/** The fraction of rows of `x` the model classifies as `labels`. */
export function accuracy(model: tfl.LayersModel, x: tf.Tensor2D, labels: Int32Array): number {
  const pred = tf.tidy(() => tf.argMax(model.predict(x) as tf.Tensor, -1).dataSync());
  let right = 0;
  for (let i = 0; i < labels.length; i++) if (pred[i] === labels[i]) right++;
  return right / labels.length;
}

/** A stand-in for `Math.random` drawing its numbers from the PRNG key of `seed`. */
export function keyedMathRandom(seed: number): () => number {
  let key = random.PRNGKey(seed);
  let words: Uint32Array = new Uint32Array(0);
  let i = 0;
  return () => {
    if (i === words.length) {
      const [next, sub] = random.split(key);
      key = next!;
      words = random.bits(sub!, 4096);
      i = 0;
    }
    return words[i++]! / 2 ** 32;
  };
}
