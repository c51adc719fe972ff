/**
 * What the live demo runs, independent of where it runs: a Web Worker in the site, Node in
 * this package's tests. One call trains for a number of iterations and reports every step.
 * Adding an optimizer is an entry in {@link DEMO_OPTIMIZERS} (catalog.ts: how the page
 * shows it) and one in {@link TRAINERS} (how it trains).
 */

import type { Datasets, DownloadProgress } from '@lopt/datasets';
import { AdafacMLPLOpt, LearnableAdam, type LearnableAdamTheta, type LearnedOptimizer, MLPLOpt } from '@lopt/learned';
import { Adam, type Optimizer, type OptState, SGD } from '@lopt/optimizers';
import {
  disposeExcept,
  LogUniformLengthSchedule,
  SingleMachineGradientLearner,
  singleTaskToFamily,
  TruncatedPES,
  unrolledMetaLoss,
  VectorizedLOptTruncatedStep,
} from '@lopt/outer-trainers';
import { type PRNGKey, random, tidy, treeDispose, valueAndGrad } from '@lopt/pytree';
import { FixedDimQuadraticFamily, imageMlp, type Task, type TaskFamily } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import { DEMO_OPTIMIZERS, type DemoOptimizerName, type DemoTaskName, EVAL_EVERY, EVAL_STEPS } from './catalog';

export type { DemoOptimizerName, DemoTaskName } from './catalog';

/** One run of the demo. */
export interface DemoConfig {
  task: DemoTaskName;
  /** A key of {@link DEMO_OPTIMIZERS}. */
  optimizer: DemoOptimizerName;
  /** Meta-iterations (learned optimizers) or training steps (Adam, SGD). */
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
  /** The meta-loss (learned optimizers) or the training loss (Adam, SGD) of this iteration. */
  loss: number;
  /** The optimizer's second measure after this iteration (see `DemoOptimizerInfo.secondary`), when it was measured. */
  secondary?: number;
}

/** Where the demo gets its data and how it talks back. */
export interface DemoHooks {
  /** Options passed to the Fashion-MNIST task factory (`baseUrl` in a browser, `dataDir` in Node). */
  datasetOptions?: {
    baseUrl?: string;
    dataDir?: string;
    cacheRoot?: string | null;
    download?: boolean;
    verify?: boolean;
  };
  /** Called after every iteration. */
  onStep(step: DemoStep): void;
  /** Called with a line of status text (loading, training, done). */
  onStatus?(text: string): void;
  /** Called as the dataset downloads. */
  onProgress?(progress: DownloadProgress): void;
  /** Checked between iterations (after yielding); true ends the run early. */
  shouldStop?(): boolean;
  /** Awaited between iterations so messages (Stop) and rendering get a turn. */
  yieldControl?(): Promise<void>;
}

type Problems = {
  family: TaskFamily<unknown, unknown, unknown>;
  fixed?: Task<unknown, unknown, unknown>;
  datasets?: Datasets;
};

/** Trains with one of the demo's optimizers, calling `hooks.onStep` after every iteration. */
type Trainer = (config: DemoConfig, problems: Problems, hooks: DemoHooks) => Promise<DemoStep[]>;

const QUADRATIC_DIM = 10;

/** The training code of each optimizer of {@link DEMO_OPTIMIZERS}. */
export const TRAINERS: Record<DemoOptimizerName, Trainer> = {
  learnableAdam: (c, p, h) => metaTrainLearnableAdam(c, p, h),
  mlpLOptPes: (c, p, h) => metaTrainPes(() => new MLPLOpt(), c, p, h),
  adafacMlpLOptPes: (c, p, h) => metaTrainPes(() => new AdafacMLPLOpt(), c, p, h),
  adam: (c, p, h) => trainPlain(c, p, h),
  sgd: (c, p, h) => trainPlain(c, p, h),
};

async function loadProblems(name: DemoTaskName, hooks: DemoHooks): Promise<Problems> {
  if (name === 'fashionMnist8') {
    hooks.onStatus?.('Downloading Fashion-MNIST...');
    const task = (await imageMlp.ImageMLP_FashionMnist8_Relu32({
      ...hooks.datasetOptions,
      onProgress: hooks.onProgress,
    })) as unknown as Task<unknown, unknown, unknown>;
    return {
      family: singleTaskToFamily(task) as TaskFamily<unknown, unknown, unknown>,
      fixed: task,
      datasets: task.datasets as Datasets,
    };
  }
  const family = new FixedDimQuadraticFamily(QUADRATIC_DIM) as unknown as TaskFamily<unknown, unknown, unknown>;
  return { family, fixed: family.sampleTask(random.PRNGKey(1234)) as Task<unknown, unknown, unknown> };
}

/** Runs the demo and resolves to the steps it reported. Leaves no tensor behind. */
export async function runDemo(config: DemoConfig, hooks: DemoHooks): Promise<DemoStep[]> {
  const train: Trainer | undefined = (TRAINERS as Record<string, Trainer>)[config.optimizer];
  if (!train)
    throw new Error(`unknown demo optimizer '${config.optimizer}'; one of ${Object.keys(DEMO_OPTIMIZERS).join(', ')}`);
  const problems = await loadProblems(config.task, hooks);
  hooks.onStatus?.(`Training on the ${tf.getBackend()} backend...`);
  const steps = await train(config, problems, hooks);
  hooks.onStatus?.(`Done: ${steps.length} iterations on the ${tf.getBackend()} backend.`);
  return steps;
}

async function between(hooks: DemoHooks): Promise<boolean> {
  await hooks.yieldControl?.();
  return hooks.shouldStop?.() ?? false;
}

/** A batch of the problem's data (Fashion-MNIST), or none (quadratics). */
const nextBatch = (p: Problems) => p.datasets?.train.next().value;

/** Meta-trains LearnableAdam's theta with Adam through a few unrolled inner steps (Part 1). */
async function metaTrainLearnableAdam(config: DemoConfig, problems: Problems, hooks: DemoHooks): Promise<DemoStep[]> {
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
    const task = problems.family.taskFn(problems.family.sample(taskKey));
    const metaLoss = unrolledMetaLoss(lopt, task, { unrollSteps: unroll });
    const out = tidy(() => {
      const batch = nextBatch(problems);
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
    const step = { iteration: i, loss, secondary: Math.exp(logLr) };
    steps.push(step);
    hooks.onStep(step);
    if (await between(hooks)) break;
  }
  treeDispose(thetaOptState);
  return steps;
}

/**
 * Mean training loss over {@link EVAL_STEPS} inner steps of the learned optimizer that
 * `theta` defines, from one fixed initialisation on fixed batches: a number that only
 * theta changes, unlike PES's meta-loss, which mixes problems at different stages.
 */
function evaluate<T>(
  lopt: LearnedOptimizer<T>,
  theta: T,
  task: Task<unknown, unknown, unknown>,
  batches: unknown[],
): number {
  let state = tidy(
    () => lopt.optFn(theta).init(task.init(random.PRNGKey(123)), { numSteps: EVAL_STEPS }) as OptState<unknown>,
  );
  let total = 0;
  for (let i = 0; i < EVAL_STEPS; i++) {
    const out = tidy(() => {
      const opt = lopt.optFn(theta);
      const [l, g] = valueAndGrad(task.loss)(opt.getParams(state), random.PRNGKey(i), batches[i]);
      return { state: opt.update(state, g, { loss: l as tf.Scalar }) as OptState<unknown>, l };
    });
    total += out.l.dataSync()[0]!;
    out.l.dispose();
    disposeExcept(state, out.state);
    state = out.state;
  }
  disposeExcept(state);
  return total / EVAL_STEPS;
}

/**
 * Meta-trains a per-parameter learned optimizer with truncated PES (Part 5's setup, small):
 * 4 problems side by side, trajectories of 20 to 50 steps cut into truncations of 10.
 */
async function metaTrainPes<T>(
  makeLOpt: () => LearnedOptimizer<T>,
  config: DemoConfig,
  problems: Problems,
  hooks: DemoHooks,
): Promise<DemoStep[]> {
  const lopt = makeLOpt();
  const truncatedStep = new VectorizedLOptTruncatedStep(
    problems.family,
    lopt,
    new LogUniformLengthSchedule(20, 50),
    4,
    {
      randomInitialIterationOffset: 50,
    },
  );
  const learner = new SingleMachineGradientLearner(
    lopt,
    [new TruncatedPES(truncatedStep, { truncLength: 10 })],
    new Adam(config.learningRate ?? 1e-2),
  );
  const seed = config.seed ?? 0;
  const evalBatches = Array.from({ length: EVAL_STEPS }, () => nextBatch(problems));
  let state = learner.init(random.PRNGKey(seed));
  const steps: DemoStep[] = [];
  try {
    for (let i = 0; i < config.iterations; i++) {
      const out = learner.update(state, random.foldIn(random.PRNGKey(seed + 1), i));
      state = out.state;
      if (!Number.isFinite(out.loss))
        throw new Error(`meta-training diverged at meta-iteration ${i}: meta-loss ${out.loss}`);
      const step: DemoStep = { iteration: i, loss: out.loss };
      if (i % EVAL_EVERY === 0 || i === config.iterations - 1) {
        step.secondary = evaluate(lopt, learner.getMetaParams(state), problems.fixed!, evalBatches);
      }
      steps.push(step);
      hooks.onStep(step);
      if (await between(hooks)) break;
    }
  } finally {
    disposeExcept(state);
    treeDispose(evalBatches.filter((b) => b !== undefined));
  }
  return steps;
}

/** Trains one problem with plain Adam or SGD. */
async function trainPlain(config: DemoConfig, problems: Problems, hooks: DemoHooks): Promise<DemoStep[]> {
  const lr = config.learningRate ?? (config.optimizer === 'adam' ? 1e-2 : config.task === 'fashionMnist8' ? 0.1 : 0.05);
  const opt: Optimizer = config.optimizer === 'adam' ? new Adam(lr) : new SGD(lr);
  let key = random.PRNGKey(config.seed ?? 0);
  const [next, taskKey, initKey] = random.split(key, 3) as [PRNGKey, PRNGKey, PRNGKey];
  key = next;
  const task = problems.family.taskFn(problems.family.sample(taskKey));
  const gradFn = valueAndGrad(task.loss);
  let state: OptState<unknown> = opt.init(task.init(initKey));
  const steps: DemoStep[] = [];
  for (let i = 0; i < config.iterations; i++) {
    let k1: PRNGKey;
    [key, k1] = random.split(key);
    const out = tidy(() => {
      const [l, g] = gradFn(opt.getParams(state), k1, nextBatch(problems));
      return { state: opt.update(state, g, { loss: l as tf.Scalar }), l };
    });
    treeDispose(state);
    state = out.state;
    const loss = (await out.l.data())[0]!;
    tf.dispose(out.l);
    const step = { iteration: i, loss, secondary: lr };
    steps.push(step);
    hooks.onStep(step);
    if (await between(hooks)) break;
  }
  treeDispose(state);
  return steps;
}
