import type { PRNGKey } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { BaseTask } from '../base-task.js';

/** Parameters of {@link DiagQuadratic}. */
export type DiagParams = { a: tf.Tensor1D; b: tf.Tensor1D };

/**
 * A quadratic whose loss, gradient and Hessian are known in closed form (for checking
 * augmentations by hand): `0.5 * sum(c * a^2) + sum(d * b) + mean(x) * sum(a)` with data `x`.
 * Init: `a = [1, 2, 3]`, `b = [-1, 0.5]`, whatever the key.
 */
export class DiagQuadratic extends BaseTask<DiagParams, tf.Tensor1D | undefined> {
  static readonly c = [1, 4, 9];
  static readonly d = [2, -3];

  override get name(): string {
    return 'DiagQuadratic';
  }

  init(_key: PRNGKey): DiagParams {
    return { a: tf.tensor1d([1, 2, 3]), b: tf.tensor1d([-1, 0.5]) };
  }

  loss(p: DiagParams, _key: PRNGKey, x: tf.Tensor1D | undefined): tf.Scalar {
    return tf.tidy(() => {
      let l = tf.add(
        tf.mul(0.5, tf.sum(tf.mul(DiagQuadratic.c, tf.square(p.a)))),
        tf.sum(tf.mul(DiagQuadratic.d, p.b)),
      );
      if (x) l = tf.add(l, tf.mul(tf.mean(x), tf.sum(p.a)));
      return l as tf.Scalar;
    });
  }

  override normalizer(loss: tf.Tensor): tf.Tensor {
    return tf.mul(loss, 10);
  }
}
