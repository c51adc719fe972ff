/**
 * The seed meta-iteration written the obvious way in plain TensorFlow.js: one op per
 * parameter leaf, `tf.grads` nested for the meta-gradient, and `tf.train.adam` on theta
 * held in `tf.Variable`s. It is the peer lopt's version is measured against.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { SeedBatch } from './seed-data.js';

type Leaves = [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];

function mlpLoss(params: Leaves, image: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  const [w0, b0, w1, b1] = params;
  const x = tf.reshape(image, [image.shape[0]!, -1]);
  const h = tf.relu(tf.add(tf.matMul(x, w0), b0));
  const logits = tf.add(tf.matMul(h, w1), b1);
  const logp = tf.sub(logits, tf.logSumExp(logits, -1, true));
  return tf.neg(tf.mean(tf.sum(tf.mul(labels, logp), -1))) as tf.Scalar;
}

/**
 * A plain-tfjs seed meta-trainer over fixed initial params (drawn once, as lopt's are per
 * key). Adam's root is `sqrt(vHat + 1e-8) + eps`, as lopt's and the other peers'.
 */
export function plainTfjsSeed(initial: Leaves) {
  const theta = [
    tf.variable(tf.scalar(Math.log(1e-3))),
    tf.variable(tf.scalar(Math.log(0.1))),
    tf.variable(tf.scalar(Math.log(0.001))),
    tf.variable(tf.scalar(Math.log(1e-8))),
  ];
  const thetaOpt = tf.train.adam(1e-2);

  const metaLoss = (th: tf.Tensor[], batch: SeedBatch): tf.Scalar => {
    const [logLr, omb1, omb2, logEps] = th as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const lr = tf.exp(logLr);
    const b1 = tf.sub(1, omb1);
    const b2 = tf.sub(1, omb2);
    const eps = tf.exp(logEps);
    let params = initial.map((p) => tf.clone(p)) as Leaves;
    let m = params.map((p) => tf.zerosLike(p));
    let v = params.map((p) => tf.zerosLike(p));
    for (let t = 1; t <= 4; t++) {
      const grads = tf.grads((...ps: tf.Tensor[]) => mlpLoss(ps as Leaves, batch.image, batch.labels))(params);
      m = m.map((mi, i) => tf.add(tf.mul(b1, mi), tf.mul(tf.sub(1, b1), grads[i]!)));
      v = v.map((vi, i) => tf.add(tf.mul(b2, vi), tf.mul(tf.sub(1, b2), tf.square(grads[i]!))));
      const c1 = tf.sub(1, tf.pow(b1, t));
      const c2 = tf.sub(1, tf.pow(b2, t));
      params = params.map((p, i) =>
        tf.sub(p, tf.mul(lr, tf.div(tf.div(m[i]!, c1), tf.add(tf.sqrt(tf.add(tf.div(v[i]!, c2), 1e-8)), eps)))),
      ) as Leaves;
    }
    return mlpLoss(params, batch.image, batch.labels);
  };

  return {
    step(batch: SeedBatch): number {
      const loss = tf.tidy(() => {
        const { value, grads } = tf.valueAndGrads((...th: tf.Tensor[]) => metaLoss(th, batch))(theta);
        thetaOpt.applyGradients(theta.map((t, i) => ({ name: t.name, tensor: grads[i]! })));
        return value;
      });
      const out = loss.dataSync()[0]!;
      loss.dispose();
      return out;
    },
    dispose() {
      tf.dispose(theta);
      thetaOpt.dispose();
    },
  };
}
