// Part 2: custom tasks and task families (the reference walkthrough's Part 2 in
// TypeScript). A task is an `init` and a `loss`; a task family draws plain configs from a
// key and builds a task for each. Run: `npx tsx src/part2-custom-tasks.ts`.

import { pathToFileURL } from 'node:url';
import { type DatasetOptions, fashionMnistDatasets } from '@lopt/datasets';
import { Adam, SGD } from '@lopt/optimizers';
import { type PRNGKey, random, setupBackend, tidy, treeDispose, treeMap, valueAndGrad } from '@lopt/pytree';
import { BaseTask, BaseTaskFamily, meanSoftmaxCrossEntropy, singleTaskToFamily, type Task } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';

/** Options of `runPart2` (defaults follow the walkthrough; tests shorten them). */
export interface Part2Options {
  /** Training steps of each loop (default 300). */
  steps?: number;
  /** Tasks drawn from the family (default 4). */
  numTasks?: number;
  /** Where the Fashion-MNIST files are (passed to `fashionMnistDatasets`). */
  data?: Omit<DatasetOptions, 'batchSize' | 'imageSize' | 'key'>;
  /** Where output goes (default `console.log`). */
  log?: (...args: unknown[]) => void;
}

/** What `runPart2` observed, for checks. */
export interface Part2Result {
  /** Loss of the hand-written quadratic before and after training. */
  quadratic: { first: number; last: number };
  /** Training and test loss of the hand-written Fashion-MNIST classifier. */
  fashion: { firstTrain: number; lastTrain: number; test: number; testAccuracy: number };
  /** The configs drawn from the family, and each task's loss before and after SGD. */
  family: { cfg: FamilyCfg; first: number; last: number }[];
  /** The single-task family's samples and task names. */
  single: { samples: number[]; names: string[] };
  /** Tensors left after everything was disposed (0 when nothing leaks). */
  leakedTensors: number;
}

// #region quadratic-task
/** The smallest task: `sum(params^2)` over 10 numbers, with no data. */
class MyQuadraticTask extends BaseTask<tf.Tensor, undefined> {
  init(key: PRNGKey): tf.Tensor {
    return random.normal(key, [10]);
  }
  loss(params: tf.Tensor, _key: PRNGKey, _data: undefined): tf.Scalar {
    return tf.tidy(() => tf.sum(tf.square(params)) as tf.Scalar);
  }
}
// #endregion quadratic-task

// #region fashion-task
interface LinearParams {
  w: tf.Tensor2D;
  b: tf.Tensor1D;
}
interface ImageBatch {
  image: tf.Tensor4D;
  label: tf.Tensor1D;
}

/** Softmax regression on 8x8 Fashion-MNIST: a task with data and a pytree of params. */
class MyFashionMnistTask extends BaseTask<LinearParams, ImageBatch> {
  constructor(override readonly datasets: Awaited<ReturnType<typeof fashionMnistDatasets>>) {
    super();
  }
  init(key: PRNGKey): LinearParams {
    return tf.tidy(() => ({
      w: tf.mul(random.normal(key, [64, 10]), 0.01) as tf.Tensor2D,
      b: tf.zeros([10]) as tf.Tensor1D,
    }));
  }
  logits(params: LinearParams, batch: ImageBatch): tf.Tensor2D {
    const x = tf.reshape(batch.image, [batch.image.shape[0], 64]);
    return tf.add(tf.matMul(x, params.w), params.b);
  }
  loss(params: LinearParams, _key: PRNGKey, batch: ImageBatch): tf.Scalar {
    return tf.tidy(() => {
      // wasm's oneHot with a float dtype is unreliable: cast an int32 one-hot instead.
      const onehot = tf.cast(tf.oneHot(batch.label, 10), 'float32');
      return meanSoftmaxCrossEntropy(this.logits(params, batch), onehot) as tf.Scalar;
    });
  }
}
// #endregion fashion-task

// #region task-family
/** A config is plain data: the centre and the curvature of one quadratic. */
interface FamilyCfg {
  center: number[];
  scale: number;
}

/** A quadratic centred on `cfg.center`, scaled by `cfg.scale`. */
class ScaledQuadraticTask extends BaseTask<tf.Tensor, undefined> {
  constructor(readonly cfg: FamilyCfg) {
    super();
  }
  init(key: PRNGKey): tf.Tensor {
    return random.normal(key, [this.cfg.center.length]);
  }
  loss(params: tf.Tensor, _key: PRNGKey, _data: undefined): tf.Scalar {
    return tf.tidy(() =>
      tf.mul(this.cfg.scale, tf.sum(tf.squaredDifference(params, tf.tensor1d(this.cfg.center)))),
    ) as tf.Scalar;
  }
}

/** Quadratics with random centres and log-uniform curvatures in [0.1, 10]. */
class MyQuadraticFamily extends BaseTaskFamily<FamilyCfg, tf.Tensor, undefined> {
  constructor(readonly dim = 5) {
    super();
  }
  sample(key: PRNGKey): FamilyCfg {
    const [k1, k2] = random.split(key);
    // Configs hold numbers, not tensors: read the draws and free them.
    const center = tf.tidy(() => Array.from(random.normal(k1!, [this.dim]).dataSync()));
    const u = tf.tidy(() => random.uniform(k2!, [], -1, 1).dataSync()[0]!);
    return { center, scale: 10 ** u };
  }
  taskFn(cfg: FamilyCfg): Task<tf.Tensor, undefined> {
    return new ScaledQuadraticTask(cfg);
  }
}
// #endregion task-family

// #region train
/** Trains `task` with `opt` for `steps` steps; returns the first and last loss. */
function train<P>(
  task: Task<P, unknown>,
  opt: SGD | Adam,
  key: PRNGKey,
  steps: number,
  nextBatch: () => unknown = () => undefined,
): { first: number; last: number; params: P } {
  const gradFn = valueAndGrad(task.loss);
  let [k, k1] = random.split(key) as [PRNGKey, PRNGKey];
  let state = opt.init(task.init(k1));
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    [k, k1] = random.split(k) as [PRNGKey, PRNGKey];
    const out = tidy(() => {
      const [l, g] = gradFn(opt.getParams(state), k1, nextBatch());
      return { state: opt.update(state, g, { loss: l }), l };
    });
    treeDispose(state);
    state = out.state;
    losses.push(out.l.dataSync()[0]!);
    tf.dispose(out.l);
  }
  const params = treeMap((x: tf.Tensor) => tf.clone(x), opt.getParams(state)) as P;
  treeDispose(state);
  return { first: losses[0]!, last: losses.at(-1)!, params };
}
// #endregion train

/** Part 2 of the walkthrough: a task, a task with data, a task family, a single-task family. */
export async function runPart2(opts: Part2Options = {}): Promise<Part2Result> {
  const log = opts.log ?? console.log;
  const steps = opts.steps ?? 300;
  const start = tf.memory().numTensors;
  const key = random.PRNGKey(0);

  // #region run-quadratic
  const quadTask = new MyQuadraticTask();
  const quad = train(quadTask, new Adam(0.05), key, steps);
  log(`MyQuadraticTask: loss ${quad.first.toFixed(3)} -> ${quad.last.toExponential(2)}`);
  treeDispose(quad.params);
  // #endregion run-quadratic

  // #region run-fashion
  const datasets = await fashionMnistDatasets({ ...opts.data, batchSize: 128, imageSize: [8, 8], key });
  const fashionTask = new MyFashionMnistTask(datasets);
  const fit = train(fashionTask, new Adam(0.01), key, steps, () => datasets.train.next().value);
  // Evaluate on one large test batch drawn from the test split's arrays.
  const [testLoss, testAccuracy] = tf.tidy(() => {
    const test = datasets.arrays('test');
    const n = 2000;
    const batch = {
      image: tf.tensor4d(test.images.subarray(0, n * 64), [n, 8, 8, 1]),
      label: tf.tensor1d(test.labels.subarray(0, n), 'int32'),
    };
    const l = fashionTask.loss(fit.params, key, batch).dataSync()[0]!;
    const predicted = tf.argMax(fashionTask.logits(fit.params, batch), 1);
    const acc = tf.mean(tf.cast(tf.equal(predicted, batch.label), 'float32')).dataSync()[0]!;
    return [l, acc];
  });
  log(
    `MyFashionMnistTask: train loss ${fit.first.toFixed(3)} -> ${fit.last.toFixed(3)}, test loss ${testLoss.toFixed(3)}, accuracy ${(100 * testAccuracy).toFixed(1)}%`,
  );
  treeDispose(fit.params);
  // #endregion run-fashion

  // #region run-family
  const family = new MyQuadraticFamily(5);
  const familyRuns: Part2Result['family'] = [];
  for (let i = 0; i < (opts.numTasks ?? 4); i++) {
    const taskKey = random.foldIn(key, i);
    const cfg = family.sample(taskKey);
    // A curvature-aware learning rate keeps SGD stable on every member of the family.
    const run = train(family.taskFn(cfg), new SGD(0.2 / cfg.scale), taskKey, Math.min(steps, 100));
    treeDispose(run.params);
    familyRuns.push({ cfg, first: run.first, last: run.last });
    log(`task ${i}: scale ${cfg.scale.toFixed(2)}, loss ${run.first.toFixed(3)} -> ${run.last.toExponential(2)}`);
  }
  // #endregion run-family

  // #region single-task-family
  const single = singleTaskToFamily(quadTask);
  const samples = [0, 1, 2].map((i) => single.sample(random.foldIn(key, i)));
  const names = samples.map((cfg) => single.taskFn(cfg).name);
  log(`singleTaskToFamily: samples ${samples.join(', ')} give ${names.join(', ')}`);
  // #endregion single-task-family

  const leakedTensors = tf.memory().numTensors - start;
  return {
    quadratic: { first: quad.first, last: quad.last },
    fashion: { firstTrain: fit.first, lastTrain: fit.last, test: testLoss, testAccuracy },
    family: familyRuns,
    single: { samples, names },
    leakedTensors,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await setupBackend();
  await runPart2();
}
