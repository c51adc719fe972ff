// Part 1: Introduction, the reference library's first walkthrough in lopt, step by step:
// tasks, optimizers, a hand-written optimizer, a learned optimizer and its meta-training
// through unrolled inner training. Run it with `pnpm --filter @lopt/examples demo`.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import { LearnableAdam } from '@lopt/learned';
import { Adam, Optimizer, SGD } from '@lopt/optimizers';
import { unrolledMetaLoss } from '@lopt/outer-trainers';
import { type PRNGKey, random, setupBackend, tidy, treeMap, valueAndGrad } from '@lopt/pytree';
import { imageMlp } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import { panelsSvg } from './svg-plot.js';

/** Options of `runPart1`. */
export interface Part1Options {
  /** Meta-iterations of the final meta-training (2000 in the walkthrough). */
  metaIterations?: number;
  /** Steps of the plain SGD loop (1000 in the walkthrough). */
  sgdSteps?: number;
  /** Folder holding `fashion-mnist/` (default: `$LOPT_DATA_DIR`, else the datasets' cache, downloading if needed). */
  dataDir?: string;
  /** Where printed lines go (default `console.log`). */
  log?: (...args: unknown[]) => void;
  /** Where the SVG of the learning-rate and meta-loss curves is written (default `.`). */
  outDir?: string;
}

/** What `runPart1` saw, for checks. */
export interface Part1Result {
  paramShapes: unknown;
  batchShapes: unknown;
  initialLoss: number;
  gradShapes: unknown;
  sgdTestLosses: number[];
  sgdLeakedTensors: number;
  sgdState: unknown;
  adamState: unknown;
  adamStep: number[];
  adamLosses: number[];
  momentum: { a: number; b: number; momA: number; momB: number };
  thetaKeys: string[];
  initialTheta: Record<string, number>;
  firstMetaLoss: number;
  firstMetaGradLogLr: number;
  learningRates: number[];
  metaLosses: number[];
  metaLeakedTensors: number;
  msPerMetaIteration: number;
  plotFile: string;
}

// #region momentum-class
// A custom optimizer is a subclass with a pytree state (momentum, done right).
interface MomentumOptState<P> {
  params: P;
  modelState: unknown;
  iteration: tf.Scalar;
  momentums: P;
}

class MomentumOptimizer extends Optimizer {
  constructor(
    private lr = 1e-3,
    private momentum = 0.9,
  ) {
    super();
  }
  init<P>(params: P, { modelState }: { modelState?: unknown } = {}): MomentumOptState<P> {
    return { params, modelState, momentums: treeMap(tf.zerosLike, params) as P, iteration: tf.scalar(0, 'int32') };
  }
  override getParams<P>(s: MomentumOptState<P>): P {
    return s.params;
  }
  override getState<P>(s: MomentumOptState<P>): unknown {
    return s.modelState;
  }
  update<P>(
    s: MomentumOptState<P>,
    grads: P,
    opts: { loss?: tf.Scalar; modelState?: unknown } = {},
  ): MomentumOptState<P> {
    // tidy frees the intermediate products; the new state's tensors are kept.
    return tidy(() => {
      const m = treeMap(
        (m: tf.Tensor, g: tf.Tensor) => tf.add(tf.mul(m, this.momentum), tf.mul(g, 1 - this.momentum)),
        s.momentums,
        grads,
      ) as P;
      const p = treeMap((p: tf.Tensor, m: tf.Tensor) => tf.sub(p, tf.mul(m, this.lr)), s.params, m) as P;
      return { params: p, modelState: opts.modelState, iteration: tf.add(s.iteration, 1) as tf.Scalar, momentums: m };
    });
  }
}
// #endregion momentum-class

const scalar = (x: tf.Tensor) => x.dataSync()[0]!;
// Trees print with their values (tensors become nested arrays).
const show = (tree: unknown) => treeMap((x) => x.arraySync(), tree);

/** Runs the Part 1 walkthrough and returns what it printed, as data. */
export async function runPart1(opts: Part1Options = {}): Promise<Part1Result> {
  const metaIterations = opts.metaIterations ?? 2000;
  const sgdSteps = opts.sgdSteps ?? 1000;
  const log =
    opts.log ??
    ((...xs: unknown[]) =>
      console.log(...xs.map((x) => (typeof x === 'object' && x !== null ? inspect(x, { depth: 8 }) : x))));
  const outDir = resolve(opts.outDir ?? '.');
  const dataDir = opts.dataDir ?? process.env.LOPT_DATA_DIR;

  // ---------------------------------------------------------------- Tasks
  // #region task
  let key: PRNGKey = random.PRNGKey(0);
  // A 1-hidden-layer ReLU MLP (32 units) on Fashion-MNIST resized to 8x8, batch 128.
  const task = await imageMlp.ImageMLP_FashionMnist8_Relu32(dataDir ? { cacheRoot: dataDir, download: false } : {});

  let params = task.init(key);
  const paramShapes = treeMap((x) => x.shape, params);
  log(paramShapes);
  // #endregion task

  // #region batch
  const batch = task.datasets!.train.next().value;
  const batchShapes = treeMap((x) => [x.shape, x.dtype], batch);
  log(batchShapes);
  // #endregion batch

  // #region loss
  let key1: PRNGKey;
  [key, key1] = random.split(key) as [PRNGKey, PRNGKey];
  const loss = task.loss(params, key1, batch);
  loss.print();
  const initialLoss = scalar(loss);
  // #endregion loss

  // #region grad
  const [lossValue, grad] = valueAndGrad(task.loss)(params, key1, batch);
  const gradShapes = treeMap((x) => x.shape, grad);
  log(gradShapes);
  tf.dispose([loss, lossValue, grad, batch] as tf.TensorContainer);
  // #endregion grad

  // #region sgd
  // Train with plain SGD; every tensor is disposed.
  const sgdTestLosses: number[] = [];
  let sgdLeakedTensors: number;
  {
    const gradFn = valueAndGrad(task.loss);
    key = random.PRNGKey(0);
    tf.dispose(params as tf.TensorContainer);
    params = task.init(key);
    const before = tf.memory().numTensors;
    const lr = 0.1;
    for (let i = 0; i < sgdSteps; i++) {
      [key, key1] = random.split(key) as [PRNGKey, PRNGKey];
      const { next, l } = tf.tidy(() => {
        const b = task.datasets!.train.next().value;
        const [l, grads] = gradFn(params, key1, b);
        return { next: treeMap((p, g) => tf.sub(p, tf.mul(lr, g)), params, grads) as typeof params, l };
      });
      tf.dispose(params as tf.TensorContainer);
      params = next;
      if (i % 100 === 0 || i === sgdSteps - 1) {
        const testL = tf.tidy(() => task.loss(params, key, task.datasets!.test.next().value));
        log(`train loss at ${i}: ${scalar(l)}. Test loss: ${scalar(testL)}`);
        sgdTestLosses.push(scalar(testL));
        tf.dispose(testL);
      }
      tf.dispose(l);
    }
    sgdLeakedTensors = tf.memory().numTensors - before;
    tf.dispose(params as tf.TensorContainer);
  }
  // #endregion sgd

  // ---------------------------------------------------------------- Optimizers
  // #region optimizer-states
  const fakeParams = { a: tf.zeros([2]) };
  const sgdOptState = new SGD(1e-4).init(fakeParams);
  const sgdState = show(sgdOptState);
  log(sgdState);

  const opt: Optimizer = new Adam(1e-4);
  const optState = opt.init(fakeParams);
  const adamState = show(optState);
  log(adamState);
  // #endregion optimizer-states

  // #region adam-step
  const fakeGrads = { a: tf.ones([2]) };
  const fakeLoss = tf.scalar(10);
  const nextOptState = opt.update(optState, fakeGrads, { loss: fakeLoss });
  opt.getParams(nextOptState).a.print();
  const adamStep = Array.from(opt.getParams(nextOptState).a.dataSync());
  // TensorFlow.js frees nothing by itself: every tensor made here is disposed.
  tf.dispose([fakeParams, sgdOptState, fakeGrads, fakeLoss, optState, nextOptState] as tf.TensorContainer);
  // #endregion adam-step

  // #region adam-loop
  // A jitted-style step: one function from state to state.
  const adamLosses: number[] = [];
  {
    key = random.PRNGKey(0);
    const adam = new Adam(1e-2);
    let state = adam.init(task.init(key));
    type State = typeof state;
    const update = (state: State, key: PRNGKey, batch: unknown) =>
      tf.tidy(() => {
        const [k1] = random.split(key) as [PRNGKey];
        const [params] = adam.getParamsState(state);
        const [l, grads] = valueAndGrad(task.loss)(params, k1, batch as never);
        return { state: adam.update(state, grads, { loss: l }), l } as unknown as tf.TensorContainer;
      }) as unknown as { state: State; l: tf.Scalar };
    for (let i = 0; i < 10; i++) {
      const batch = task.datasets!.train.next().value;
      const out = update(state, key, batch);
      tf.dispose([state, batch] as unknown as tf.TensorContainer);
      state = out.state;
      log(scalar(out.l));
      adamLosses.push(scalar(out.l));
      tf.dispose(out.l);
    }
    tf.dispose(state as unknown as tf.TensorContainer);
  }
  // #endregion adam-loop

  // ---------------------------------------------------------------- A custom optimizer
  // #region momentum-use
  const mom = new MomentumOptimizer(1);
  const momParams = { a: tf.scalar(1), b: tf.scalar(2) };
  const momGrads = { a: tf.scalar(-1), b: tf.scalar(1) };
  const momInit = mom.init(momParams);
  const momState = mom.update(momInit, momGrads);
  log(show(momState));
  const momentum = {
    a: scalar(momState.params.a),
    b: scalar(momState.params.b),
    momA: scalar(momState.momentums.a),
    momB: scalar(momState.momentums.b),
  };
  tf.dispose([momParams, momGrads, momInit, momState] as unknown as tf.TensorContainer);
  // #endregion momentum-use

  // ---------------------------------------------------------------- Learned optimizers
  // #region learnable-adam
  const lopt = new LearnableAdam();
  let theta = lopt.init(key);
  log(show(theta));
  const thetaKeys = Object.keys(theta).sort();
  const initialTheta = Object.fromEntries(Object.entries(theta).map(([k, v]) => [k, scalar(v)]));
  // #endregion learnable-adam

  // #region meta-loss
  // meta-loss: a function of theta through 4 unrolled inner steps. `unrolledMetaLoss` is
  // the walkthrough's meta-loss, written once for the examples, the CLI, the docs and the
  // benchmarks: fresh parameters from the first split of `key`, 4 steps of
  // `lopt.optFn(theta)` on `batch` (a split per step), then the loss on that same batch.
  const metaLoss = unrolledMetaLoss(lopt, task, { unrollSteps: 4 });

  const metaValueAndGrad = valueAndGrad(metaLoss); // gradient through the inner gradients
  let firstMetaLoss: number;
  // #endregion meta-loss
  // #region meta-grad
  let firstMetaGradLogLr: number;
  {
    const b = task.datasets!.train.next().value;
    const [ml, metaGrad] = metaValueAndGrad(theta, key, b);
    log(scalar(ml), show(metaGrad));
    firstMetaLoss = scalar(ml);
    firstMetaGradLogLr = scalar(metaGrad.logLr);
    tf.dispose([ml, metaGrad, b] as tf.TensorContainer);
  }
  // #endregion meta-grad

  // #region meta-train
  // Meta-train theta with Adam.
  const thetaOpt = new Adam(1e-2);
  key = random.PRNGKey(0);
  tf.dispose(theta as unknown as tf.TensorContainer);
  theta = lopt.init(key);
  let thetaOptState = thetaOpt.init(theta);
  const learningRates: number[] = [];
  const metaLosses: number[] = [];
  const before = tf.memory().numTensors;
  const t0 = performance.now();
  for (let i = 0; i < metaIterations; i++) {
    [key, key1] = random.split(key) as [PRNGKey, PRNGKey];
    const out = tf.tidy(() => {
      const b = task.datasets!.train.next().value;
      const theta = thetaOpt.getParams(thetaOptState);
      const [ml, metaGrad] = metaValueAndGrad(theta, key, b);
      return { state: thetaOpt.update(thetaOptState, metaGrad, { loss: ml }), ml } as unknown as tf.TensorContainer;
    }) as unknown as { state: typeof thetaOptState; ml: tf.Scalar };
    tf.dispose(thetaOptState as unknown as tf.TensorContainer);
    thetaOptState = out.state;
    learningRates.push(Math.exp(scalar(thetaOpt.getParams(thetaOptState).logLr)));
    metaLosses.push(scalar(out.ml));
    tf.dispose(out.ml);
    if (i % 100 === 0) log(`meta-iteration ${i}: meta-loss ${metaLosses[i]}, learning rate ${learningRates[i]}`);
  }
  const elapsed = performance.now() - t0;
  const metaLeakedTensors = tf.memory().numTensors - before;
  const msPerMetaIteration = metaIterations > 0 ? elapsed / metaIterations : 0;
  log(
    `${metaIterations} meta-iterations in ${(elapsed / 1000).toFixed(1)} s (${msPerMetaIteration.toFixed(1)} ms each, backend ${tf.getBackend()})`,
  );
  tf.dispose(thetaOptState as unknown as tf.TensorContainer);
  // #endregion meta-train

  // #region plot
  // The learning-rate and meta-loss curves, as a picture.
  await mkdir(outDir, { recursive: true });
  const plotFile = join(outDir, 'part1-learnable-adam.svg');
  const svg = panelsSvg([
    { title: 'learned learning rate', values: learningRates, logY: true },
    { title: 'meta-loss', values: metaLosses },
  ]);
  const tmp = `${plotFile}.${process.pid}.tmp`;
  await writeFile(tmp, svg, 'utf8');
  await rename(tmp, plotFile);
  log(`wrote ${plotFile}`);
  // #endregion plot

  return {
    paramShapes,
    batchShapes,
    initialLoss,
    gradShapes,
    sgdTestLosses,
    sgdLeakedTensors,
    sgdState,
    adamState,
    adamStep,
    adamLosses,
    momentum,
    thetaKeys,
    initialTheta,
    firstMetaLoss,
    firstMetaGradLogLr,
    learningRates,
    metaLosses,
    metaLeakedTensors,
    msPerMetaIteration,
    plotFile,
  };
}

// Run as a script: the backend is the application's choice (wasm by default in Node).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await setupBackend(process.env.LOPT_BACKEND || 'wasm');
  await runPart1();
}
