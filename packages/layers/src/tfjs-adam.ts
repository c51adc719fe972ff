import { Adam } from '@lopt/optimizers';
import * as tf from '@tensorflow/tfjs-core';

/** Options of `tfjsAdam`, with `tf.train.adam`'s defaults. */
export interface TfjsAdamOptions {
  /** Decay of the first moment (default 0.9; `beta1` of `tf.train.adam`). */
  b1?: number;
  /** Decay of the second moment (default 0.999; `beta2` of `tf.train.adam`). */
  b2?: number;
  /** Added to the denominator outside the square root (default 1e-7, tfjs's float32 epsilon). */
  eps?: number;
}

// Beyond this many steps both bias corrections are 1 in float32, so the table ends here.
const TABLE_STEPS = 20_000;

/**
 * A lopt `Adam` that steps as `tf.train.adam(learningRate, beta1, beta2, epsilon)` does,
 * for moving a tfjs-layers model to lopt without changing its training.
 *
 * `tf.train.adam` is optax's Adam (`epsilon` outside the square root, no `epsRoot`)
 * except for one detail: its bias corrections `1 - beta^t` come from a running product
 * of the float32-rounded betas (0.999 is 0.99900001287 in float32), while the moments
 * decay with the exact `1 - beta`. That changes every update of a fresh Adam by about
 * 6e-6 relative for beta2 = 0.999. The difference is a per-step scalar, so it goes into
 * the learning rate as a schedule (a table of tfjs's float32 products), and the rest is
 * lopt's `Adam` unchanged.
 */
export function tfjsAdam(learningRate = 0.001, opts: TfjsAdamOptions = {}): Adam {
  const { b1: beta1 = 0.9, b2: beta2 = 0.999, eps: epsilon = 1e-7 } = opts;
  if (!(learningRate >= 0)) throw new Error(`tfjsAdam: learningRate must be >= 0, got ${learningRate}`);
  for (const [name, b] of [
    ['b1', beta1],
    ['b2', beta2],
  ] as const) {
    if (!(b >= 0 && b < 1)) throw new Error(`tfjsAdam: ${name} must be in [0, 1), got ${b}`);
  }
  // Step t (1-based) of tf.train.adam scales lopt's update by
  //   lr * bc1 / ((1 - A1) s),  s = sqrt(bc2 / (1 - A2)),  with epsilon / s in place of epsilon,
  // where bc = 1 - beta^t (lopt) and A = the float32 running product of fround(beta) (tfjs).
  const ratios = new Float32Array(TABLE_STEPS);
  const b1 = Math.fround(beta1);
  const b2 = Math.fround(beta2);
  let a1 = b1;
  let a2 = b2;
  let s1 = 1;
  for (let t = 1; t <= TABLE_STEPS; t++) {
    const bc1 = -Math.expm1(t * Math.log(beta1));
    const bc2 = -Math.expm1(t * Math.log(beta2));
    const s = Math.sqrt(bc2 / Math.fround(1 - a2));
    if (t === 1) s1 = s;
    ratios[t - 1] = (learningRate * bc1) / (Math.fround(1 - a1) * s);
    a1 = Math.fround(a1 * b1);
    a2 = Math.fround(a2 * b2);
  }
  let table: tf.Tensor1D | undefined;
  const schedule = (count: tf.Tensor) => {
    // Made on first use, so a tfjsAdam built before the backend is set up still works.
    if (!table || table.isDisposed) table = tf.keep(tf.tensor1d(ratios));
    const i = tf.minimum(tf.cast(count, 'int32'), tf.scalar(TABLE_STEPS - 1, 'int32'));
    return tf.reshape(tf.gather(table, i), []) as tf.Scalar;
  };
  return new Adam(schedule, { b1: beta1, b2: beta2, eps: epsilon / s1, epsRoot: 0 });
}
