import type { Optimizer, OptState } from '@lopt/optimizers';
import { type PRNGKey, random, tidy, treeLeaves, treeMap, treeNorm, treeZerosLike } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { GradientEstimator, Metrics, UnrollInfo, WorkerWeights } from './gradient-estimator.js';
import { disposeExcept } from './tree-utils.js';

/** Anything with `init(key)` giving meta-parameters (a learned optimizer, say). */
export interface MetaInitializer<Theta = unknown> {
  /** Fresh meta-parameters drawn from `key`. */
  init(key: PRNGKey): Theta;
}

/** The learner's state (learned_optimization's `GradientLearnerState`): the outer optimizer's state. */
export interface GradientLearnerState<Theta = unknown> {
  /** The outer optimizer's state: theta, its accumulators and the outer iteration. */
  thetaOptState: OptState<Theta>;
}

/** A gradient sent from a worker to the learner (learned_optimization's `AggregatedGradient`). */
export interface AggregatedGradient<Theta = unknown> {
  /** The gradient, shaped like theta. */
  thetaGrads: Theta;
  /** Non-trainable state of theta. */
  thetaModelState: unknown;
  /** The mean meta-loss behind the gradient. */
  meanLoss: number;
}

/** What `gradientWorkerCompute` returns (learned_optimization's `WorkerComputeOut`). */
export interface WorkerComputeOut<Theta = unknown> {
  /** What goes to the learner. */
  toPut: AggregatedGradient<Theta>;
  /** The estimators' next states. */
  unrollStates: unknown[];
  /** Metrics of the estimates. */
  metrics: Metrics;
  /** One sampled step of each estimator's unroll, for logging. */
  eventInfo: { loss: number[]; taskParam: unknown[]; iteration: number[]; outerIteration: number }[];
}

/** Options of `GradientLearner`. */
export interface GradientLearnerOptions {
  /** The planned number of outer steps (for outer-optimizer schedules). */
  numSteps?: number;
  /** Initialise theta from this seed instead of the key given to `init`. */
  initSeed?: number;
}

function outerIterationOf(state: OptState): number {
  return state.iteration.dataSync()[0]!;
}

/**
 * The central learner (learned_optimization's `GradientLearner`): holds theta and its
 * outer optimizer's state, hands workers what they need, and applies averaged
 * gradients.
 */
export class GradientLearner<Theta = unknown> {
  /**
   * @param metaInit gives the initial theta.
   * @param thetaOpt the outer optimizer that trains theta.
   */
  constructor(
    readonly metaInit: MetaInitializer<Theta>,
    readonly thetaOpt: Optimizer,
    readonly opts: GradientLearnerOptions = {},
  ) {}

  /** Fresh state: theta from `metaInit` and the outer optimizer's state for it. */
  init(key: PRNGKey): GradientLearnerState<Theta> {
    const k = this.opts.initSeed !== undefined ? random.PRNGKey(this.opts.initSeed) : key;
    const theta = this.metaInit.init(k);
    return { thetaOptState: this.thetaOpt.init(theta, { numSteps: this.opts.numSteps }) };
  }

  /** The current theta. */
  getMetaParams(state: GradientLearnerState<Theta>): Theta {
    return this.thetaOpt.getParams(state.thetaOptState);
  }

  /** What workers need: theta, its model state and the outer iteration. */
  getStateForWorker(state: GradientLearnerState<Theta>): WorkerWeights<Theta> {
    return {
      theta: this.getMetaParams(state),
      thetaModelState: this.thetaOpt.getState(state.thetaOptState),
      outerState: { outerIteration: outerIterationOf(state.thetaOptState) },
    };
  }

  /**
   * One outer update with the mean of `gradsList`. The old state is left to the caller
   * (it may share tensors with the new one; free it with `disposeExcept`).
   */
  update(
    state: GradientLearnerState<Theta>,
    gradsList: AggregatedGradient<Theta>[],
    opts: { key?: PRNGKey; withMetrics?: boolean } = {},
  ): [GradientLearnerState<Theta>, Metrics] {
    if (gradsList.length === 0) throw new Error('GradientLearner.update: no gradients given');
    const losses = gradsList.map((g) => g.meanLoss);
    const meanLoss = losses.reduce((a, b) => a + b, 0) / losses.length;
    const metrics: Metrics = { meanLoss, bestOfMeanLoss: Math.min(...losses) };
    const next = tidy(() => {
      const grads =
        gradsList.length === 1
          ? gradsList[0]!.thetaGrads
          : (treeMap(
              (...xs: tf.Tensor[]) => tf.div(tf.addN(xs), xs.length),
              gradsList[0]!.thetaGrads,
              ...gradsList.slice(1).map((g) => g.thetaGrads),
            ) as Theta);
      const norm = treeNorm(grads);
      metrics.thetaGradNorm = norm.dataSync()[0]!;
      return this.thetaOpt.update(state.thetaOptState, grads, { loss: tf.scalar(meanLoss), key: opts.key });
    });
    return [{ thetaOptState: next }, metrics];
  }
}

/** Options of `gradientWorkerCompute`. */
export interface GradientWorkerComputeOptions {
  /** Compute extra metrics. */
  withMetrics?: boolean;
  /** A NaN or infinite mean loss is replaced by this value (default 20.0, as the reference). */
  clipNanLossToValue?: number | null;
  /**
   * What to do with a non-finite meta-gradient: `'error'` (default) throws an error
   * naming the estimator; `'zero'` replaces NaN/inf entries with 0, as the reference does.
   */
  nanGrad?: 'error' | 'zero';
}

function hasNonFinite(tree: unknown): boolean {
  return treeLeaves(tree as never).some((l) => {
    const d = (l as tf.Tensor).dataSync();
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) return true;
    return false;
  });
}

/**
 * A worker's share of an outer step (learned_optimization's `gradient_worker_compute`):
 * runs each estimator from its state, averages their gradients and losses, and returns
 * them with the estimators' next states. The input states are left to the caller.
 */
export function gradientWorkerCompute<Theta>(
  workerWeights: WorkerWeights<Theta>,
  gradientEstimators: GradientEstimator<Theta>[],
  unrollStates: unknown[],
  key: PRNGKey,
  opts: GradientWorkerComputeOptions = {},
): WorkerComputeOut<Theta> {
  if (gradientEstimators.length !== unrollStates.length) {
    throw new Error(
      `gradientWorkerCompute: ${gradientEstimators.length} estimators but ${unrollStates.length} unroll states`,
    );
  }
  const clip = opts.clipNanLossToValue === undefined ? 20.0 : opts.clipNanLossToValue;
  let grads = treeZerosLike(workerWeights.theta);
  const losses: number[] = [];
  const metrics: Metrics = {};
  const unrollStatesOut: unknown[] = [];
  const eventInfo: WorkerComputeOut<Theta>['eventInfo'] = [];
  let k = key;
  gradientEstimators.forEach((est, i) => {
    const start = Date.now();
    const [k1, rng] = random.split(k);
    k = k1!;
    const [out, m] = est.computeGradientEstimate(workerWeights, rng!, unrollStates[i], {
      withSummary: opts.withMetrics,
    });
    if (hasNonFinite(out.grad)) {
      if ((opts.nanGrad ?? 'error') === 'error') {
        disposeExcept(out.grad);
        throw new Error(
          `gradientWorkerCompute: the meta-gradient of estimator ${i} (${est.name} on ${est.taskName()}) has NaN or infinite entries; pass nanGrad: 'zero' to zero them`,
        );
      }
      const cleaned = tidy(() => treeMap((g) => tf.where(tf.isFinite(g), g, tf.zerosLike(g)), out.grad) as Theta);
      disposeExcept(out.grad);
      out.grad = cleaned;
    }
    const sum = tidy(() => treeMap((a, b) => tf.add(a, b), grads, out.grad) as Theta);
    disposeExcept(grads);
    disposeExcept(out.grad);
    grads = sum;
    unrollStatesOut.push(out.unrollState);
    losses.push(out.meanLoss);
    if (out.unrollInfo) eventInfo.push(sampleEvent(out.unrollInfo, rng!, workerWeights.outerState.outerIteration));
    const family = est.taskName();
    for (const [name, v] of Object.entries(m)) metrics[`${family}/${name}`] = v;
    if (out.unrollInfo) {
      const last = out.unrollInfo.iteration[out.unrollInfo.iteration.length - 1]!;
      metrics[`${family}/innerStepMean`] = last.reduce((a, b) => a + b, 0) / last.length;
    }
    metrics[`${family}/meanLoss`] = out.meanLoss;
    metrics[`${family}/time`] = (Date.now() - start) / 1000;
  });
  const meanGrads = tidy(() => treeMap((g) => tf.div(g, gradientEstimators.length), grads) as Theta);
  disposeExcept(grads);
  let meanLoss = losses.reduce((a, b) => a + b, 0) / losses.length;
  if (!Number.isFinite(meanLoss) && clip !== null) meanLoss = clip;
  return {
    toPut: { thetaGrads: meanGrads, thetaModelState: workerWeights.thetaModelState, meanLoss },
    unrollStates: unrollStatesOut,
    metrics,
    eventInfo,
  };
}

function sampleEvent(info: UnrollInfo, key: PRNGKey, outerIteration: number) {
  const idx = random.randintArray(key, 1, 0, info.loss.length)[0]!;
  return { loss: info.loss[idx]!, taskParam: info.taskParam[idx]!, iteration: info.iteration[idx]!, outerIteration };
}

/** The state of `SingleMachineGradientLearner` (learned_optimization's `SingleMachineState`). */
export interface SingleMachineState<Theta = unknown> {
  /** The learner's state (theta and the outer optimizer's state). */
  gradientLearnerState: GradientLearnerState<Theta>;
  /** Each estimator's state (inner problems, PES accumulators). */
  gradientEstimatorStates: unknown[];
}

/** What `SingleMachineGradientLearner.update` returns. */
export interface SingleMachineUpdate<Theta = unknown> {
  /** The next state (the old one has been freed, except what the new one shares). */
  state: SingleMachineState<Theta>;
  /** The mean meta-loss of this outer step (NaN clipped). */
  loss: number;
  /** Metrics of this outer step. */
  metrics: Metrics;
}

/**
 * Meta-training on one machine (learned_optimization's `SingleMachineGradientLearner`):
 * a `GradientLearner` and `gradientWorkerCompute` run in turn.
 */
export class SingleMachineGradientLearner<Theta = unknown> {
  /** The central learner. */
  readonly gradientLearner: GradientLearner<Theta>;

  /**
   * @param metaInit gives the initial theta (usually the learned optimizer).
   * @param gradientEstimators the estimators whose gradients are averaged each step.
   * @param thetaOpt the outer optimizer.
   */
  constructor(
    metaInit: MetaInitializer<Theta>,
    readonly gradientEstimators: GradientEstimator<Theta>[],
    thetaOpt: Optimizer,
    readonly opts: GradientLearnerOptions & Omit<GradientWorkerComputeOptions, 'withMetrics'> = {},
  ) {
    if (gradientEstimators.length === 0) throw new Error('SingleMachineGradientLearner: no gradient estimators given');
    this.gradientLearner = new GradientLearner(metaInit, thetaOpt, opts);
  }

  /** Fresh state: theta and the estimators' first states. */
  init(key: PRNGKey): SingleMachineState<Theta> {
    const [key1, key2] = random.split(key);
    const gradientLearnerState = this.gradientLearner.init(key1!);
    const ww = this.gradientLearner.getStateForWorker(gradientLearnerState);
    const keys = random.split(key2!, this.gradientEstimators.length);
    const gradientEstimatorStates = this.gradientEstimators.map((e, i) => e.initWorkerState(ww, keys[i]!));
    return { gradientLearnerState, gradientEstimatorStates };
  }

  /** One outer step. Consumes `state`: its tensors not carried into the new state are freed. */
  update(
    state: SingleMachineState<Theta>,
    key: PRNGKey,
    opts: { withMetrics?: boolean } = {},
  ): SingleMachineUpdate<Theta> {
    const start = Date.now();
    const [key1, key2] = random.split(key);
    const ww = this.gradientLearner.getStateForWorker(state.gradientLearnerState);
    const out = gradientWorkerCompute(ww, this.gradientEstimators, state.gradientEstimatorStates, key1!, {
      withMetrics: opts.withMetrics,
      clipNanLossToValue: this.opts.clipNanLossToValue,
      nanGrad: this.opts.nanGrad,
    });
    const [gls, m] = this.gradientLearner.update(state.gradientLearnerState, [out.toPut], { key: key2 });
    const next: SingleMachineState<Theta> = { gradientLearnerState: gls, gradientEstimatorStates: out.unrollStates };
    disposeExcept(out.toPut.thetaGrads);
    disposeExcept(state, next);
    const metrics: Metrics = {
      ...out.metrics,
      ...m,
      outerIteration: ww.outerState.outerIteration,
      time: (Date.now() - start) / 1000,
    };
    return { state: next, loss: out.toPut.meanLoss, metrics };
  }

  /** The current theta. */
  getMetaParams(state: SingleMachineState<Theta>): Theta {
    return this.gradientLearner.getMetaParams(state.gradientLearnerState);
  }
}
