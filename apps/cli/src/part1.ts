import { LearnableAdam, type LearnableAdamTheta } from '@lopt/learned';
import { Adam, type OptState, SGD } from '@lopt/optimizers';
import { disposeExcept, unrolledMetaLoss } from '@lopt/outer-trainers';
import { type PRNGKey, random, tidy, treeDispose, treeMap, valueAndGrad } from '@lopt/pytree';
import type { Task } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import { trainTask } from './inner-train.js';

/** Settings of the Part 1 walkthrough. */
export interface Part1Options {
  /** The task (the walkthrough uses ImageMLP_FashionMnist8_Relu32). */
  task: Task;
  /** Seed of every key. */
  seed: number;
  /** Steps of the plain SGD training (0 skips it). */
  sgdSteps: number;
  /** Meta-iterations of the LearnableAdam meta-training. */
  metaIterations: number;
  /** Inner steps unrolled per meta-loss. */
  unroll: number;
  /** Learning rate of the outer Adam. */
  outerLr: number;
  /** Narration lines. */
  log: (line: string) => void;
  /** Progress of a phase: `(phase, done, total, info)`. */
  progress: (phase: 'sgd' | 'meta', done: number, total: number, info: string) => void;
  /** Checked after every step: true ends the walkthrough after that step. */
  shouldStop?: () => boolean;
}

/** What the walkthrough measured. */
export interface Part1Result {
  /** Loss of the initial parameters (about ln 10). */
  initialLoss: number;
  /** Test losses of the SGD run, `[step, loss]`. */
  sgdTestLosses: [number, number][];
  /** d(meta-loss)/d(logLr) at initialisation (negative: raise the learning rate). */
  initialLogLrGrad: number;
  /** The meta-loss of every meta-iteration. */
  metaLosses: number[];
  /** The learning rate after every meta-iteration. */
  learningRates: number[];
  /** Wall time of the meta-training in seconds. */
  metaSeconds: number;
  /** Whether `shouldStop` ended the walkthrough early. */
  stopped: boolean;
}

const tick = () => new Promise<void>((r) => setImmediate(r));

/**
 * The Part 1 walkthrough of learned_optimization: a task, plain SGD on it, the
 * meta-gradient of an unrolled inner loop with respect to LearnableAdam's theta, and
 * meta-training of theta with Adam.
 */
export async function runPart1(o: Part1Options): Promise<Part1Result> {
  const { task } = o;
  const batchOf = (split: 'train' | 'test') => (task.datasets ? task.datasets[split].next().value : undefined);
  let key: PRNGKey = random.PRNGKey(o.seed);

  const params = task.init(key);
  const shapes = treeMap((x: tf.Tensor) => x.shape, params as tf.Tensor[]);
  o.log(`task ${task.name}: parameter shapes ${JSON.stringify(shapes)}`);
  const l0 = tf.tidy(() => task.loss(params, random.split(key)[1]!, batchOf('train')));
  const initialLoss = l0.dataSync()[0]!;
  treeDispose(l0, params);
  o.log(`loss at initialisation: ${initialLoss.toFixed(4)} (ln 10 = 2.3026)`);

  let sgdTestLosses: [number, number][] = [];
  if (o.sgdSteps > 0) {
    o.log(`training with SGD(0.1) for ${o.sgdSteps} steps`);
    const curve = await trainTask(task, new SGD(0.1), {
      steps: o.sgdSteps,
      seed: o.seed,
      logEvery: Math.max(1, Math.floor(o.sgdSteps / 10)),
      onLog: (i, l, t) => o.log(`  train loss at ${i}: ${l.toFixed(4)}. Test loss: ${t.toFixed(4)}`),
      onStep: (i, l) => o.progress('sgd', i, o.sgdSteps, `loss ${l.toFixed(3)}`),
      shouldStop: o.shouldStop,
    });
    sgdTestLosses = curve.test;
    if (curve.ended?.reason === 'stopped') {
      return {
        initialLoss,
        sgdTestLosses,
        initialLogLrGrad: Number.NaN,
        metaLosses: [],
        learningRates: [],
        metaSeconds: 0,
        stopped: true,
      };
    }
  }

  const lopt = new LearnableAdam();
  // The walkthrough's meta-loss, shared with the examples, the docs and the benchmarks.
  const metaLoss = unrolledMetaLoss(lopt, task, { unrollSteps: o.unroll });
  const metaValueAndGrad = valueAndGrad(metaLoss);

  key = random.PRNGKey(o.seed);
  const thetaOpt = new Adam(o.outerLr);
  let thetaOptState: OptState<LearnableAdamTheta> = thetaOpt.init(lopt.init(key));
  const g0 = tf.tidy(() => {
    const [, g] = metaValueAndGrad(thetaOpt.getParams(thetaOptState), key, batchOf('train'));
    return (g as LearnableAdamTheta).logLr;
  });
  const initialLogLrGrad = g0.dataSync()[0]!;
  g0.dispose();
  o.log(
    `meta-gradient at initialisation: d(meta-loss)/d(logLr) = ${initialLogLrGrad.toPrecision(4)}${initialLogLrGrad < 0 ? ' (raise the learning rate)' : ''}`,
  );

  o.log(
    `meta-training LearnableAdam with Adam(${o.outerLr}) for ${o.metaIterations} meta-iterations (${o.unroll}-step unrolls)`,
  );
  const metaLosses: number[] = [];
  const learningRates: number[] = [];
  const start = Date.now();
  let stopped = false;
  for (let i = 0; i < o.metaIterations; i++) {
    let k1: PRNGKey;
    [key, k1] = random.split(key) as [PRNGKey, PRNGKey];
    const out = tidy(() => {
      const [ml, g] = metaValueAndGrad(thetaOpt.getParams(thetaOptState), k1, batchOf('train'));
      return { state: thetaOpt.update(thetaOptState, g as LearnableAdamTheta, { loss: ml as tf.Scalar }), ml };
    });
    disposeExcept(thetaOptState, out.state);
    thetaOptState = out.state;
    const ml = out.ml.dataSync()[0]!;
    out.ml.dispose();
    const lr = Math.exp(thetaOpt.getParams(thetaOptState).logLr.dataSync()[0]!);
    metaLosses.push(ml);
    learningRates.push(lr);
    if (i % Math.max(1, Math.floor(o.metaIterations / 10)) === 0)
      o.log(`  meta-iteration ${i}: meta-loss ${ml.toFixed(4)}, learning rate ${lr.toPrecision(3)}`);
    o.progress('meta', i + 1, o.metaIterations, `meta-loss ${ml.toFixed(3)} lr ${lr.toPrecision(3)}`);
    if (o.shouldStop?.()) {
      stopped = true;
      break;
    }
    await tick();
  }
  const metaSeconds = (Date.now() - start) / 1000;
  disposeExcept(thetaOptState);
  return { initialLoss, sgdTestLosses, initialLogLrGrad, metaLosses, learningRates, metaSeconds, stopped };
}
