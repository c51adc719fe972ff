/**
 * What the live demo runs, independent of where it runs: a Web Worker in the site, Node in
 * this package's tests. One call trains for a number of iterations and reports every step.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Datasets } from '@lopt/datasets';
import { type LearnableAdamTheta, LearnableAdam } from '@lopt/learned';
import { Adam, type Optimizer, type OptState, SGD } from '@lopt/optimizers';
import { type PRNGKey, random, tidy, treeDispose, valueAndGrad } from '@lopt/pytree';
import { unrolledMetaLoss } from '@lopt/outer-trainers';
import { FixedDimQuadraticFamily, imageMlp, type Task } from '@lopt/tasks';

/** The tasks a visitor can pick. */
export type DemoTaskName = 'fashionMnist8' | 'quadraticFamily';
/** The optimizers a visitor can pick: meta-training LearnableAdam, or plain training. */
export type DemoOptimizerName = 'learnableAdam' | 'adam' | 'sgd';

/** One run of the demo. */
export interface DemoConfig {
  task: DemoTaskName;
  optimizer: DemoOptimizerName;
  /** Meta-iterations (LearnableAdam) or training steps (Adam, SGD). */
  iterations: number;
  /** Seed of every PRNG key of the run. */
  seed?: number;
  /** Inner steps unrolled per meta-iteration (LearnableAdam only). */
  unrollSteps?: number;
  /** Learning rate of the plain optimizers, and of the meta-optimizer (Adam on theta). */
  learningRate?: number;
}

/** What one iteration reports. */
export interface DemoStep {
  /** 0-based iteration. */
  iteration: number;
  /** The meta-loss (LearnableAdam) or the training loss (Adam, SGD) of this iteration. */
  loss: number;
  /** The learning rate in use after this iteration (the learned one for LearnableAdam). */
  learningRate: number;
}

/** Where the demo gets its data and how it talks back. */
export interface DemoHooks {
  /** Options passed to the Fashion-MNIST task factory (`baseUrl` in a browser, `dataDir` in Node). */
  datasetOptions?: { baseUrl?: string; dataDir?: string; download?: boolean; verify?: boolean };
  /** Called after every iteration. */
  onStep(step: DemoStep): void;
  /** Called with a line of status text (loading, training, done). */
  onStatus?(text: string): void;
  /** Checked between iterations (after yielding); true ends the run early. */
  shouldStop?(): boolean;
  /** Awaited between iterations so messages (Stop) and rendering get a turn. */
  yieldControl?(): Promise<void>;
}


type ImageBatch = { image: tf.Tensor; label: tf.Tensor };

/** One meta-training or training problem: a fresh task (and data) per iteration. */
interface Problem {
  task: Task<unknown, unknown, unknown>;
  batch(): unknown;
}

const QUADRATIC_DIM = 10;

async function makeProblemSource(
  name: DemoTaskName,
  hooks: DemoHooks,
): Promise<(key: PRNGKey) => Problem> {
  if (name === 'fashionMnist8') {
    hooks.onStatus?.('Loading Fashion-MNIST (4 files, about 30 MB)...');
    const task = (await imageMlp.ImageMLP_FashionMnist8_Relu32(hooks.datasetOptions ?? {})) as unknown as Task<
      unknown,
      ImageBatch,
      unknown
    >;
    const datasets = task.datasets as Datasets;
    return () => ({ task, batch: () => datasets.train.next().value });
  }
  const family = new FixedDimQuadraticFamily(QUADRATIC_DIM);
  // Each iteration trains a quadratic of the family with a fresh target.
  return (key) => ({ task: family.sampleTask(key) as Task<unknown, unknown, unknown>, batch: () => undefined });
}

/** Runs the demo and resolves to the steps it reported. Leaves no tensor behind. */
export async function runDemo(config: DemoConfig, hooks: DemoHooks): Promise<DemoStep[]> {
  const source = await makeProblemSource(config.task, hooks);
  hooks.onStatus?.(`Training on the ${tf.getBackend()} backend...`);
  const steps =
    config.optimizer === 'learnableAdam'
      ? await metaTrainLearnableAdam(config, source, hooks)
      : await trainPlain(config, source, hooks);
  hooks.onStatus?.(`Done: ${steps.length} iterations on the ${tf.getBackend()} backend.`);
  return steps;
}

async function between(hooks: DemoHooks): Promise<boolean> {
  await hooks.yieldControl?.();
  return hooks.shouldStop?.() ?? false;
}

/** Meta-trains LearnableAdam's theta with Adam through a few unrolled inner steps (Part 1). */
async function metaTrainLearnableAdam(
  config: DemoConfig,
  source: (key: PRNGKey) => Problem,
  hooks: DemoHooks,
): Promise<DemoStep[]> {
  const unroll = config.unrollSteps ?? (config.task === 'fashionMnist8' ? 4 : 10);
  const lopt = new LearnableAdam();
  const thetaOpt = new Adam(config.learningRate ?? 1e-2);
  let key = random.PRNGKey(config.seed ?? 0);
  let thetaOptState = thetaOpt.init(lopt.init(key));
  const steps: DemoStep[] = [];

  for (let i = 0; i < config.iterations; i++) {
    let taskKey: PRNGKey;
    let unrollKey: PRNGKey;
    [key, taskKey, unrollKey] = random.split(key, 3) as [PRNGKey, PRNGKey, PRNGKey];
    const problem = source(taskKey);
    const metaLoss = unrolledMetaLoss(lopt, problem.task, { unrollSteps: unroll });
    const out = tidy(() => {
      const batch = problem.batch();
      const theta = thetaOpt.getParams(thetaOptState) as LearnableAdamTheta;
      const [ml, metaGrad] = valueAndGrad(metaLoss)(theta, unrollKey, batch);
      return { state: thetaOpt.update(thetaOptState, metaGrad, { loss: ml as tf.Scalar }), ml };
    });
    treeDispose(thetaOptState);
    thetaOptState = out.state as typeof thetaOptState;
    const loss = (await out.ml.data())[0]!;
    tf.dispose(out.ml);
    const logLr = (await (thetaOpt.getParams(thetaOptState) as LearnableAdamTheta).logLr.data())[0]!;
    if (!Number.isFinite(loss) || !Number.isFinite(logLr)) {
      treeDispose(thetaOptState);
      throw new Error(`meta-training diverged at meta-iteration ${i}: meta-loss ${loss}, log learning rate ${logLr}`);
    }
    const step = { iteration: i, loss, learningRate: Math.exp(logLr) };
    steps.push(step);
    hooks.onStep(step);
    if (await between(hooks)) break;
  }
  treeDispose(thetaOptState);
  return steps;
}

/** Trains one problem with plain Adam or SGD. */
async function trainPlain(config: DemoConfig, source: (key: PRNGKey) => Problem, hooks: DemoHooks): Promise<DemoStep[]> {
  const lr = config.learningRate ?? (config.optimizer === 'adam' ? 1e-2 : config.task === 'fashionMnist8' ? 0.1 : 0.05);
  const opt: Optimizer = config.optimizer === 'adam' ? new Adam(lr) : new SGD(lr);
  let key = random.PRNGKey(config.seed ?? 0);
  const [next, taskKey, initKey] = random.split(key, 3) as [PRNGKey, PRNGKey, PRNGKey];
  key = next;
  const problem = source(taskKey);
  const gradFn = valueAndGrad(problem.task.loss);
  let state: OptState<unknown> = opt.init(problem.task.init(initKey));
  const steps: DemoStep[] = [];
  for (let i = 0; i < config.iterations; i++) {
    let k1: PRNGKey;
    [key, k1] = random.split(key);
    const out = tidy(() => {
      const [l, g] = gradFn(opt.getParams(state), k1, problem.batch());
      return { state: opt.update(state, g, { loss: l as tf.Scalar }), l };
    });
    treeDispose(state);
    state = out.state;
    const loss = (await out.l.data())[0]!;
    tf.dispose(out.l);
    const step = { iteration: i, loss, learningRate: lr };
    steps.push(step);
    hooks.onStep(step);
    if (await between(hooks)) break;
  }
  treeDispose(state);
  return steps;
}
