// Train a 32-unit ReLU MLP on Fashion-MNIST at 8x8 with Adam, freeing every tensor.
import { Adam } from '@lopt/optimizers';
import { type PRNGKey, random, setupBackend, tidy, treeDispose, valueAndGrad } from '@lopt/pytree';
import { imageMlp } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';

await setupBackend();
// Reads $LOPT_DATA_DIR/fashion-mnist/ or the cache folder, downloading the files once.
const task = await imageMlp.ImageMLP_FashionMnist8_Relu32();
const opt = new Adam(1e-2);
const lossAndGrad = valueAndGrad(task.loss);

let key: PRNGKey = random.PRNGKey(0);
let k1: PRNGKey;
[key, k1] = random.split(key);
let state = opt.init(task.init(k1));
for (let step = 0; step <= 500; step++) {
  [key, k1] = random.split(key);
  // tidy frees the batch, the gradients and every intermediate of the step.
  const next = tidy(() => {
    const batch = task.datasets!.train.next().value;
    const [loss, grads] = lossAndGrad(opt.getParams(state), k1, batch);
    return { state: opt.update(state, grads, { loss }), loss };
  });
  treeDispose(state); // the old state is not needed any more
  state = next.state;
  if (step % 100 === 0) console.log(`step ${step}: training loss ${next.loss.dataSync()[0]!.toFixed(3)}`);
  next.loss.dispose();
}
const testLoss = tidy(() => task.loss(opt.getParams(state), key, task.datasets!.test.next().value));
console.log(`test loss: ${testLoss.dataSync()[0]!.toFixed(3)}`);
treeDispose([state, testLoss]);
console.log(`tensors left: ${tf.memory().numTensors}`);
