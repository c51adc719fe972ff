// The code of the Getting started page. This package's tests run it, so the page shows
// code that works.
import { Adam } from '@lopt/optimizers';
import { type PRNGKey, random, setupBackend, tidy, treeDispose, valueAndGrad } from '@lopt/pytree';
import { type ImageTaskOptions, imageMlp } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';

/** What the Getting started code printed, for checks. */
export interface GettingStartedResult {
  backend: string;
  value: number;
  grad: { w: number[]; b: number };
  losses: number[];
  testLoss: number;
  leakedTensors: number;
}

/** Runs the page's code: a backend, a gradient of a pytree function, a first training loop. */
export async function gettingStarted(
  opts: { steps?: number; data?: ImageTaskOptions; log?: (...args: unknown[]) => void } = {},
): Promise<GettingStartedResult> {
  const log = opts.log ?? console.log;
  const start = tf.memory().numTensors;

  // #region backend
  // No name: 'tensorflow' when @tensorflow/tfjs-node is installed, else 'wasm', else 'cpu'.
  // In a browser, import '@tensorflow/tfjs-backend-wasm' (or -webgl) first and name it.
  const backend = await setupBackend();
  log(`backend: ${backend}`);
  // #endregion backend

  // #region grad
  // A function of a pytree (nested objects and arrays of tensors) and its gradient.
  const f = (p: { w: tf.Tensor; b: tf.Scalar }) => tf.sum(tf.square(tf.add(p.w, p.b))) as tf.Scalar;
  const p = { w: tf.tensor1d([1, 2, 3]), b: tf.scalar(0.5) };
  const [value, g] = valueAndGrad(f)(p);
  log(value.dataSync()[0], g.w.dataSync(), g.b.dataSync()); // 20.75, [3, 5, 7], 15
  // #endregion grad
  const result = { value: value.dataSync()[0]!, grad: { w: Array.from(g.w.dataSync()), b: g.b.dataSync()[0]! } };
  treeDispose([p, value, g]);

  // #region first-loop
  // A 32-unit ReLU MLP on real Fashion-MNIST at 8x8 (the data loads once, asynchronously).
  const task = await imageMlp.ImageMLP_FashionMnist8_Relu32(opts.data);
  const opt = new Adam(1e-2);
  const lossAndGrad = valueAndGrad(task.loss);
  let key: PRNGKey = random.PRNGKey(0);
  let k1: PRNGKey;
  [key, k1] = random.split(key);
  let state = opt.init(task.init(k1));
  const losses: number[] = [];
  for (let step = 0; step < (opts.steps ?? 500); step++) {
    [key, k1] = random.split(key);
    // tf.tidy frees the batch, the gradients and every intermediate of the step.
    const next = tidy(() => {
      const batch = task.datasets!.train.next().value;
      const [loss, grads] = lossAndGrad(opt.getParams(state), k1, batch);
      return { state: opt.update(state, grads, { loss }), loss };
    });
    treeDispose(state); // the old state is not needed any more
    state = next.state;
    losses.push(next.loss.dataSync()[0]!);
    next.loss.dispose();
    if (step % 100 === 0) log(`step ${step}: training loss ${losses[step]!.toFixed(3)}`);
  }
  const testLoss = tf.tidy(() => task.loss(opt.getParams(state), key, task.datasets!.test.next().value).dataSync()[0]!);
  log(`test loss: ${testLoss.toFixed(3)}`); // about 0.6, from ln 10 = 2.3 at the start
  treeDispose(state);
  // #endregion first-loop

  return { backend, ...result, losses, testLoss, leakedTensors: tf.memory().numTensors - start };
}
