// Part 6: writing your own learned optimizer. A learned optimizer is `init(key) -> theta`
// and `optFn(theta) -> Optimizer`; here theta holds a tiny per-parameter MLP that reads
// each parameter's gradient and momentum and proposes its step. It is meta-trained with
// the meta-loss of Part 1 on a family of quadratics. Run: `npx tsx src/part6-custom-lopt.ts`.

import { pathToFileURL } from 'node:url';
import { LearnedOptimizer } from '@lopt/learned';
import { Adam, type InitOptions, Optimizer, type OptState, type UpdateOptions } from '@lopt/optimizers';
import { type PRNGKey, random, setupBackend, tidy, treeDispose, treeMap, valueAndGrad } from '@lopt/pytree';
import { FixedDimQuadraticFamily, type Task } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';

/** Options of `runPart6` (defaults follow the walkthrough; tests shorten them). */
export interface Part6Options {
  /** Meta-iterations (default 300). */
  metaIterations?: number;
  /** Inner steps unrolled per meta-iteration (default 10). */
  unrollSteps?: number;
  /** Where output goes (default `console.log`). */
  log?: (...args: unknown[]) => void;
}

/** What `runPart6` observed, for checks. */
export interface Part6Result {
  /** Names and shapes of theta. */
  thetaShapes: Record<string, number[]>;
  /** The parameters after one update from zero with gradient 1 (at init). */
  firstStep: number[];
  /** Meta-loss per meta-iteration. */
  metaLosses: number[];
  /** exp(theta.logLr) per meta-iteration. */
  learningRates: number[];
  /** Loss after `unrollSteps` steps on 20 held-out quadratics, before and after meta-training. */
  heldOut: { before: number; after: number };
  /** Tensors left after everything was disposed (0 when nothing leaks). */
  leakedTensors: number;
}

// #region theta
/** Meta-parameters: a 2 -> 8 -> 1 MLP applied to every parameter, and a step size. */
export interface PerParamMLPTheta {
  w1: tf.Tensor2D;
  b1: tf.Tensor1D;
  w2: tf.Tensor2D;
  logLr: tf.Scalar;
}
// #endregion theta

// #region optimizer
/** The optimizer state: the standard fields plus a momentum per parameter. */
interface PerParamMLPState<P> extends OptState<P> {
  momentum: P;
}

/** The optimizer a given theta defines: stateless, all state lives in the pytree. */
class PerParamMLPOptimizer extends Optimizer {
  constructor(
    private readonly theta: PerParamMLPTheta,
    private readonly beta = 0.9,
  ) {
    super();
  }

  init<P>(params: P, opts: InitOptions = {}): PerParamMLPState<P> {
    return {
      params,
      modelState: opts.modelState,
      iteration: tf.scalar(0, 'int32'),
      momentum: treeMap((p: tf.Tensor) => tf.zerosLike(p), params) as P,
    };
  }

  update<P>(state: OptState<P>, grads: P, opts: UpdateOptions = {}): PerParamMLPState<P> {
    const s = state as PerParamMLPState<P>;
    const { w1, b1, w2, logLr } = this.theta;
    const momentum = treeMap(
      (m: tf.Tensor, g: tf.Tensor) => tf.add(tf.mul(m, this.beta), tf.mul(g, 1 - this.beta)),
      s.momentum,
      grads,
    ) as P;
    const params = treeMap(
      (p: tf.Tensor, g: tf.Tensor, m: tf.Tensor) => {
        // Features per parameter: [gradient, momentum], one row per scalar parameter.
        const features = tf.stack([tf.reshape(g, [-1]), tf.reshape(m, [-1])], 1);
        const hidden = tf.relu(tf.add(tf.matMul(features, w1), b1));
        const learned = tf.reshape(tf.matMul(hidden, w2), p.shape);
        // The step: momentum SGD plus what the MLP adds, all scaled by the learned rate.
        const step = tf.mul(tf.exp(logLr), tf.add(m, learned));
        return tf.sub(p, step);
      },
      s.params,
      grads,
      momentum,
    ) as P;
    return {
      params,
      modelState: opts.modelState ?? s.modelState,
      iteration: tf.add(s.iteration, 1) as tf.Scalar,
      momentum,
    };
  }
}
// #endregion optimizer

// #region lopt
/** A learned optimizer with a per-parameter MLP: the pattern of the reference's MLP lopts. */
export class PerParamMLPLOpt extends LearnedOptimizer<PerParamMLPTheta> {
  constructor(readonly initialLr = 0.01) {
    super();
  }
  init(key: PRNGKey): PerParamMLPTheta {
    const [k1, k2] = random.split(key);
    return tf.tidy(() => ({
      w1: tf.mul(random.normal(k1!, [2, 8]), 0.5) as tf.Tensor2D,
      b1: tf.zeros([8]) as tf.Tensor1D,
      // Small output weights: at initialisation the optimizer is nearly momentum SGD.
      w2: tf.mul(random.normal(k2!, [8, 1]), 0.01) as tf.Tensor2D,
      logLr: tf.scalar(Math.log(this.initialLr)),
    }));
  }
  optFn(theta: PerParamMLPTheta): Optimizer {
    return new PerParamMLPOptimizer(theta);
  }
}
// #endregion lopt

// #region meta-loss
/** Part 1's meta-loss: the loss after `steps` inner steps of the optimizer theta defines. */
function metaLoss(
  lopt: PerParamMLPLOpt,
  task: Task<tf.Tensor, unknown>,
  steps: number,
): (theta: PerParamMLPTheta, key: PRNGKey) => tf.Scalar {
  return (theta, key) => {
    const opt = lopt.optFn(theta);
    let [k, k1] = random.split(key) as [PRNGKey, PRNGKey];
    let state = opt.init(task.init(k1));
    const gradFn = valueAndGrad(task.loss);
    for (let i = 0; i < steps; i++) {
      [k, k1] = random.split(k) as [PRNGKey, PRNGKey];
      const [l, g] = gradFn(opt.getParams(state), k1, undefined);
      state = opt.update(state, g, { loss: l });
    }
    return task.loss(opt.getParams(state), k, undefined);
  };
}
// #endregion meta-loss

/** Mean loss after `steps` inner steps on `n` quadratics the meta-training never saw. */
function heldOutLoss(
  lopt: PerParamMLPLOpt,
  theta: PerParamMLPTheta,
  family: FixedDimQuadraticFamily,
  steps: number,
  n = 20,
): number {
  let total = 0;
  for (let i = 0; i < n; i++) {
    const key = random.foldIn(random.PRNGKey(1234), i);
    const task = family.sampleTask(key) as Task<tf.Tensor, unknown>;
    total += tf.tidy(() => metaLoss(lopt, task, steps)(theta, key).dataSync()[0]!);
  }
  return total / n;
}

/** Part 6 of the walkthrough: define, inspect and meta-train a learned optimizer. */
export async function runPart6(opts: Part6Options = {}): Promise<Part6Result> {
  const log = opts.log ?? console.log;
  const metaIterations = opts.metaIterations ?? 300;
  const unroll = opts.unrollSteps ?? 10;
  const start = tf.memory().numTensors;

  // #region inspect
  const lopt = new PerParamMLPLOpt();
  let key = random.PRNGKey(0);
  const theta0 = lopt.init(key);
  const thetaShapes = Object.fromEntries(Object.entries(theta0).map(([k, v]) => [k, v.shape]));
  log('theta:', thetaShapes); // w1 [2, 8], b1 [8], w2 [8, 1], logLr []
  const firstStep = tf.tidy(() => {
    const opt = lopt.optFn(theta0);
    const state = opt.init({ a: tf.zeros([3]) });
    const next = opt.update(state, { a: tf.ones([3]) });
    return Array.from(opt.getParams(next).a.dataSync());
  });
  log('one step from 0 with gradient 1:', firstStep); // about -lr * 0.1 (the momentum), plus the MLP's part
  // #endregion inspect

  // #region meta-train
  const family = new FixedDimQuadraticFamily(10);
  const before = heldOutLoss(lopt, theta0, family, unroll);
  const thetaOpt = new Adam(3e-2);
  let thetaOptState = thetaOpt.init(theta0);
  const metaLosses: number[] = [];
  const learningRates: number[] = [];
  for (let i = 0; i < metaIterations; i++) {
    let taskKey: PRNGKey;
    let unrollKey: PRNGKey;
    [key, taskKey, unrollKey] = random.split(key, 3) as [PRNGKey, PRNGKey, PRNGKey];
    const task = family.sampleTask(taskKey) as Task<tf.Tensor, unknown>;
    const out = tidy(() => {
      const theta = thetaOpt.getParams(thetaOptState);
      const [ml, metaGrad] = valueAndGrad(metaLoss(lopt, task, unroll))(theta, unrollKey);
      return { state: thetaOpt.update(thetaOptState, metaGrad, { loss: ml }), ml };
    });
    treeDispose(thetaOptState);
    thetaOptState = out.state;
    metaLosses.push(out.ml.dataSync()[0]!);
    learningRates.push(Math.exp(thetaOpt.getParams(thetaOptState).logLr.dataSync()[0]!));
    tf.dispose(out.ml);
    if (i % 50 === 0)
      log(`meta-iteration ${i}: meta-loss ${metaLosses[i]!.toFixed(3)}, lr ${learningRates[i]!.toExponential(2)}`);
  }
  const after = heldOutLoss(lopt, thetaOpt.getParams(thetaOptState), family, unroll);
  log(`held-out loss after ${unroll} steps: ${before.toFixed(3)} before meta-training, ${after.toFixed(3)} after`);
  // #endregion meta-train
  treeDispose(thetaOptState);

  return {
    thetaShapes,
    firstStep,
    metaLosses,
    learningRates,
    heldOut: { before, after },
    leakedTensors: tf.memory().numTensors - start,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await setupBackend();
  await runPart6();
}
