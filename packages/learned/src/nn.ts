import { type PRNGKey, random } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';

/** The weights of one dense layer: `y = x @ w + b`. */
export interface Linear {
  /** The weight matrix, `[fanIn, fanOut]`. */
  w: tf.Tensor2D;
  /** The bias, `[fanOut]`. */
  b: tf.Tensor1D;
}

/**
 * A dense layer initialised as haiku's `hk.Linear`: weights from a normal truncated at
 * two standard deviations with stddev `1/sqrt(fanIn)`, zero bias. `zeroWeights` gives
 * all-zero weights (haiku's `Constant(0)` initialiser).
 */
export function initLinear(key: PRNGKey, fanIn: number, fanOut: number, zeroWeights = false): Linear {
  return tf.tidy(() => {
    const w = zeroWeights
      ? tf.zeros([fanIn, fanOut])
      : tf.mul(random.truncatedNormal(key, -2, 2, [fanIn, fanOut]), 1 / Math.sqrt(fanIn));
    return { w: w as tf.Tensor2D, b: tf.zeros([fanOut]) as tf.Tensor1D };
  });
}

/** `x @ w + b` for `x` of shape `[batch, fanIn]`. */
export function applyLinear(layer: Linear, x: tf.Tensor2D): tf.Tensor2D {
  return tf.add(tf.matMul(x, layer.w), layer.b) as tf.Tensor2D;
}

/** An MLP as haiku's `hk.nets.MLP(sizes)`: one `Linear` per output size. */
export function initMlp(key: PRNGKey, fanIn: number, sizes: readonly number[]): Linear[] {
  const keys = random.split(key, sizes.length);
  let last = fanIn;
  return sizes.map((s, i) => {
    const layer = initLinear(keys[i]!, last, s);
    last = s;
    return layer;
  });
}

/**
 * Applies an MLP with ReLU between layers and none after the last (haiku's default).
 * `extraFirst`, when given, is added after the first matmul: inputs that are the same
 * for every row (a time embedding, say) go through their slice of the first weight
 * matrix once instead of being tiled to every row.
 */
export function applyMlp(layers: readonly Linear[], x: tf.Tensor2D, extraFirst?: tf.Tensor): tf.Tensor2D {
  let h = x;
  layers.forEach((layer, i) => {
    if (i === 0 && extraFirst) {
      const nx = x.shape[1];
      const wx = tf.slice(layer.w, [0, 0], [nx, -1]) as tf.Tensor2D;
      const we = tf.slice(layer.w, [nx, 0], [-1, -1]) as tf.Tensor2D;
      const e = tf.reshape(extraFirst, [1, -1]) as tf.Tensor2D;
      h = tf.add(tf.matMul(h, wx), tf.add(tf.matMul(e, we), layer.b)) as tf.Tensor2D;
    } else {
      h = applyLinear(layer, h);
    }
    if (i < layers.length - 1) h = tf.relu(h);
  });
  return h;
}

/** An LSTM's recurrent state, as haiku's `LSTMState`. */
export interface LSTMState {
  /** The output of the last step, `[batch, hidden]`. */
  hidden: tf.Tensor2D;
  /** The cell memory, `[batch, hidden]`. */
  cell: tf.Tensor2D;
}

/** The zero initial state of an LSTM for a batch of 1 (haiku's `initial_state(1)`). */
export function lstmZeroState(hidden: number): LSTMState {
  return { hidden: tf.zeros([1, hidden]) as tf.Tensor2D, cell: tf.zeros([1, hidden]) as tf.Tensor2D };
}

/**
 * One step of haiku's `hk.LSTM`: gates from one linear map of `[x, h]`, in the order
 * input, candidate, forget, output, with a forget-gate bias of 1.
 */
export function lstmStep(layer: Linear, x: tf.Tensor2D, state: LSTMState): [tf.Tensor2D, LSTMState] {
  const gates = applyLinear(layer, tf.concat([x, state.hidden], 1) as tf.Tensor2D);
  const [i, g, f, o] = tf.split(gates, 4, 1) as tf.Tensor2D[];
  const cell = tf.add(
    tf.mul(tf.sigmoid(tf.add(f!, 1)), state.cell),
    tf.mul(tf.sigmoid(i!), tf.tanh(g!)),
  ) as tf.Tensor2D;
  const hidden = tf.mul(tf.sigmoid(o!), tf.tanh(cell)) as tf.Tensor2D;
  return [hidden, { hidden, cell }];
}

/**
 * A vector from haiku's default `VarianceScaling()` initialiser (scale 1, fan-in,
 * truncated normal): stddev `sqrt(1 / n) / 0.8796`, truncated at two deviations.
 */
export function varianceScalingVector(key: PRNGKey, n: number): tf.Tensor1D {
  return tf.tidy(
    () => tf.mul(random.truncatedNormal(key, -2, 2, [n]), Math.sqrt(1 / n) / 0.8796256610342398) as tf.Tensor1D,
  );
}
