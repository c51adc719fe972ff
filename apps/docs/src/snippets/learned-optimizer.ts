// Meta-train LearnableAdam: its four hyperparameters (theta) are learned by
// differentiating the loss reached after a few inner Adam steps with respect to theta.
import { LearnableAdam, type LearnableAdamTheta } from '@lopt/learned';
import { Adam } from '@lopt/optimizers';
import { type PRNGKey, random, setupBackend, tidy, treeDispose, valueAndGrad } from '@lopt/pytree';
import { imageMlp } from '@lopt/tasks';
import type * as tf from '@tensorflow/tfjs-core';

await setupBackend();
const task = await imageMlp.ImageMLP_FashionMnist8_Relu32();
const lopt = new LearnableAdam();

// The meta-loss: train a fresh MLP for 4 steps with the Adam that theta defines.
function metaLoss(theta: LearnableAdamTheta, key: PRNGKey, batch: unknown): tf.Scalar {
  const opt = lopt.optFn(theta);
  let k1: PRNGKey;
  [k1, key] = random.split(key);
  let state = opt.init(task.init(k1));
  for (let i = 0; i < 4; i++) {
    [k1, key] = random.split(key);
    const [loss, grads] = valueAndGrad(task.loss)(opt.getParams(state), k1, batch as never);
    state = opt.update(state, grads, { loss });
  }
  return task.loss(opt.getParams(state), key, batch as never);
}
const metaLossAndGrad = valueAndGrad(metaLoss); // differentiates through the inner gradients

const metaOpt = new Adam(1e-2); // an ordinary optimizer, on theta
let key = random.PRNGKey(0);
let metaState = metaOpt.init(lopt.init(key));
for (let i = 0; i <= 300; i++) {
  let k1: PRNGKey;
  [key, k1] = random.split(key);
  const next = tidy(() => {
    const batch = task.datasets!.train.next().value;
    const [loss, metaGrads] = metaLossAndGrad(metaOpt.getParams(metaState), k1, batch);
    return { state: metaOpt.update(metaState, metaGrads, { loss }), loss };
  });
  treeDispose(metaState);
  metaState = next.state;
  if (i % 50 === 0) {
    const lr = Math.exp(metaOpt.getParams(metaState).logLr.dataSync()[0]!);
    console.log(
      `meta-iteration ${i}: meta-loss ${next.loss.dataSync()[0]!.toFixed(3)}, learning rate ${lr.toExponential(2)}`,
    );
  }
  next.loss.dispose();
}
treeDispose(metaState);
