// Train with a pretrained learned optimizer: Celo2 with its published meta-parameters,
// untuned, on a 784-128-128-128-10 ReLU MLP on Fashion-MNIST, next to Adam. No
// meta-training is needed. Run: `npx tsx --conditions=@lopt/source src/pretrained-celo2.ts`.
import { pathToFileURL } from 'node:url';
import { Celo2, celo2AdamWLeaves, celo2Theta } from '@lopt/learned';
import { Adam, type Optimizer, type OptState } from '@lopt/optimizers';
import { random, setupBackend, tidy, treeDispose, valueAndGrad } from '@lopt/pytree';
import { type ImageTaskOptions, imageMlp } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';

/** Options of `runPretrainedCelo2`. */
export interface PretrainedCelo2Options {
  /** Training steps of each optimizer (default 600). */
  steps?: number;
  /** Where the Fashion-MNIST files are. */
  data?: ImageTaskOptions;
  /** Where output goes (default `console.log`). */
  log?: (...args: unknown[]) => void;
}

/** What the example measured. */
export interface PretrainedCelo2Result {
  /** Which leaves took AdamW (true) and which Celo2's learned rule, in flattening order. */
  adamw: boolean[];
  /** Test loss (one batch of 1000 test images) after training, by optimizer. */
  testLoss: { celo2: number; adam: number };
  /** Training loss of the first and the last step with Celo2. */
  celo2Train: { first: number; last: number };
  /** Tensors left after everything was disposed (0 when nothing leaks). */
  leakedTensors: number;
}

/** Trains the MLP with Celo2 and with Adam from the same initialisation. */
export async function runPretrainedCelo2(opts: PretrainedCelo2Options = {}): Promise<PretrainedCelo2Result> {
  const log = opts.log ?? console.log;
  const steps = opts.steps ?? 600;
  const start = tf.memory().numTensors;

  // #region celo2
  const task = await imageMlp.ImageMLP_FashionMnist_128x128x128_Relu(opts.data);
  // Celo2's published theta ships inside @lopt/learned: no file, no download, no meta-training.
  const theta = celo2Theta();
  const celo2 = new Celo2().optFn(theta); // the reference's defaults: learning rate 1e-3
  // #endregion celo2

  // #region leaves
  // Biases, the first and the last weight matrix take AdamW; the two middle ones Celo2's rule.
  const params = task.init(random.PRNGKey(0));
  const adamw = celo2AdamWLeaves(params);
  treeDispose(params);
  log('AdamW leaves:', adamw); // [true, true, true, false, true, false, true, true]
  // To choose per leaf, pass a predicate (or a mask tree) as `adamw`, e.g. every matrix learned:
  // new Celo2({ adamw: (leaf) => (leaf.shape.length >= 2 ? false : undefined) })
  // #endregion leaves

  // #region train
  function train(opt: Optimizer): { first: number; last: number; test: number } {
    const lossAndGrad = valueAndGrad(task.loss);
    let state: OptState<ReturnType<typeof task.init>> = opt.init(task.init(random.PRNGKey(0)));
    const losses: number[] = [];
    for (let step = 0; step < steps; step++) {
      const next = tidy(() => {
        const batch = task.datasets!.train.next().value;
        const [loss, grads] = lossAndGrad(opt.getParams(state), random.PRNGKey(step), batch);
        return { state: opt.update(state, grads, { loss }), loss };
      });
      treeDispose(state); // tfjs frees nothing by itself
      state = next.state;
      losses.push(next.loss.dataSync()[0]!);
      next.loss.dispose();
    }
    const test = tf.tidy(() => {
      const all = task.datasets!.arrays('test');
      const image = tf.tensor4d(all.images.subarray(0, 1000 * 784), [1000, 28, 28, 1]);
      const label = tf.tensor1d(all.labels.subarray(0, 1000), 'int32');
      return task.loss(opt.getParams(state), random.PRNGKey(0), { image, label }).dataSync()[0]!;
    });
    treeDispose(state);
    return { first: losses[0]!, last: losses[losses.length - 1]!, test };
  }

  const withCelo2 = train(celo2);
  const withAdam = train(new Adam(1e-3));
  log(`test loss after ${steps} steps: Celo2 ${withCelo2.test.toFixed(3)}, Adam(1e-3) ${withAdam.test.toFixed(3)}`);
  treeDispose(theta);
  // #endregion train

  return {
    adamw,
    testLoss: { celo2: withCelo2.test, adam: withAdam.test },
    celo2Train: { first: withCelo2.first, last: withCelo2.last },
    leakedTensors: tf.memory().numTensors - start,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await setupBackend();
  await runPretrainedCelo2();
}
