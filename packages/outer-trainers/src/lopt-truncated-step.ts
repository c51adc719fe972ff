import { type LearnedOptimizer, type StackedOptState, stackOptStates, stackTrees, unstackTree } from '@lopt/learned';
import type { Optimizer, OptState } from '@lopt/optimizers';
import { type PRNGKey, random, tidy, valueAndGrad } from '@lopt/pytree';
import { hasBatchedLoss, type Task, type TaskFamily } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import {
  autoLosses,
  type BatchedLossFn,
  type LossesFn,
  loopedLosses,
  perProblemBatchedLoss,
  stackedLosses,
} from './batched-loss.js';
import type { OuterState } from './outer-state.js';
import { nextBatch } from './task-data.js';
import { checkPositiveInt } from './tree-utils.js';
import type { InitStepStateOptions, TruncatedStep, TruncatedUnrollOut, UnrollStepOptions } from './truncated-step.js';
import type { TruncationSchedule } from './truncation-schedule.js';

/**
 * The state of K inner problems trained by a learned optimizer
 * (learned_optimization's `TruncatedUnrollState`): one entry per problem. Only the
 * optimizer states hold tensors; the rest is plain data.
 */
export interface LOptTruncatedUnrollState<Cfg = unknown> {
  /**
   * The K problems' optimizer states (parameters, accumulators, iteration). With K > 1
   * problems whose states stack (one task shape, no model state) they are kept stacked
   * across steps, as the learned optimizer's `vectorizedOptFn` state (every leaf `[K, ...]`;
   * `unstackTree` splits it); otherwise one state per problem.
   */
  innerOptState: OptState[] | StackedOptState;
  /** Each problem's inner step within its current truncation. */
  innerStep: number[];
  /** Each problem's truncation-schedule state. */
  truncationState: unknown[];
  /** Each problem's task config (from `taskFamily.sample`). */
  taskParam: Cfg[];
  /** Where the last step ended the truncation (the next step resets the problem). */
  isDone: boolean[];
}

/** One inner step's data for K problems: a training batch each, and a meta-loss batch each. */
export interface LOptStepData<D = unknown> {
  /** The training batch of each problem. */
  train: D[];
  /** The meta-loss batch of each problem, when `metaLossSplit` asks for one. */
  meta?: D[];
}

/** Options of `VectorizedLOptTruncatedStep`. */
export interface VectorizedLOptTruncatedStepOptions {
  /**
   * Where the reported loss comes from: `null` (default) the training loss of the step,
   * `'sameData'` the loss of the updated parameters on the same batch, or a data split
   * name (`'train'`, `'test'`, ...) for the updated parameters on a fresh batch of it.
   */
  metaLossSplit?: string | null;
  /** Inner steps start at a random offset in `[0, this)`, so problems do not run in lock step. */
  randomInitialIterationOffset?: number;
  /** The split `getOuterBatch` draws from (default `'train'`). */
  outerDataSplit?: string;
  /** Name used for metrics (default: the family's name). */
  taskName?: string;
  /**
   * A loss over parameters stacked on a leading axis. When the K problems share one task
   * (a single-task family), their forward and backward passes run as one batched call.
   * Default: the tasks package's `batchedLoss` for tasks that have a vectorised one.
   */
  batchedLoss?: BatchedLossFn;
  /** `'off'` evaluates the problems one at a time even when a batched loss exists (default `'auto'`). */
  batching?: 'auto' | 'off';
}

const TASK_CACHE_LIMIT = 1024;

/**
 * K inner problems drawn from a task family and trained by a learned optimizer
 * (learned_optimization's `VectorizedLOptTruncatedStep`). Each step trains every
 * problem one step with its own batch, or, when a problem's truncation is done, resets
 * it (a re-sampled task, re-initialised parameters) and reports loss 0 with
 * `mask = false`. Losses pass through `task.normalizer`.
 *
 * TensorFlow.js has no `vmap`: the losses and gradients of the K problems come from
 * one gradient call (and one batched forward/backward pass when `batchedLoss` is given
 * and the problems share a task). The optimizer updates of the training problems go
 * through the learned optimizer's `vectorizedOptFn` (each problem with its own theta,
 * as ES perturbations need): their states are stacked and updated in one call, batched
 * where the learned optimizer overrides it and per problem by default. Problems whose
 * states cannot be stacked (a task family sampling different shapes) update one at a time.
 */
export class VectorizedLOptTruncatedStep<Theta = unknown, Cfg = unknown, P = unknown, D = unknown>
  implements TruncatedStep<Theta, LOptTruncatedUnrollState<Cfg>, LOptStepData<D>>
{
  /** See `VectorizedLOptTruncatedStepOptions.metaLossSplit`. */
  readonly metaLossSplit: string | null;
  /** See `VectorizedLOptTruncatedStepOptions.randomInitialIterationOffset`. */
  readonly randomInitialIterationOffset: number;
  /** See `VectorizedLOptTruncatedStepOptions.outerDataSplit`. */
  readonly outerDataSplit: string;
  private readonly name: string | undefined;
  private readonly losses: LossesFn;
  private readonly batchedLoss: BatchedLossFn | undefined;
  private readonly batching: 'auto' | 'off';
  private readonly taskCache = new Map<string, Task<P, D>>();

  /**
   * @param taskFamily the family inner problems are drawn from.
   * @param learnedOpt the learned optimizer being meta-trained.
   * @param truncSched when each problem's unroll ends.
   * @param numTasks K, the number of problems advanced together.
   */
  constructor(
    readonly taskFamily: TaskFamily<Cfg, P, D>,
    readonly learnedOpt: LearnedOptimizer<Theta>,
    readonly truncSched: TruncationSchedule,
    readonly numTasks: number,
    opts: VectorizedLOptTruncatedStepOptions = {},
  ) {
    checkPositiveInt(numTasks, 'VectorizedLOptTruncatedStep: numTasks');
    this.metaLossSplit = opts.metaLossSplit ?? null;
    this.randomInitialIterationOffset = opts.randomInitialIterationOffset ?? 0;
    if (!Number.isInteger(this.randomInitialIterationOffset) || this.randomInitialIterationOffset < 0) {
      throw new Error(
        `VectorizedLOptTruncatedStep: randomInitialIterationOffset must be a non-negative integer, got ${opts.randomInitialIterationOffset}`,
      );
    }
    this.outerDataSplit = opts.outerDataSplit ?? 'train';
    this.name = opts.taskName;
    this.losses =
      opts.batching === 'off' ? loopedLosses : opts.batchedLoss ? stackedLosses(opts.batchedLoss) : autoLosses;
    this.batchedLoss = opts.batchedLoss;
    this.batching = opts.batching ?? 'auto';
  }

  /** Fresh meta-parameters: the learned optimizer's `init`. */
  outerInit(key: PRNGKey): Theta {
    return this.learnedOpt.init(key);
  }

  /** Name of the task family (for metrics). */
  taskName(): string {
    return this.name ?? this.taskFamily.name;
  }

  /** Name of the configuration: the learned optimizer (for metrics). */
  cfgName(): string {
    return this.learnedOpt.name;
  }

  /** The inner step each problem is at. */
  innerSteps(state: LOptTruncatedUnrollState<Cfg>): number[] {
    return state.innerStep.slice();
  }

  /** The task of a config, cached (configs are plain data, so their JSON identifies them). */
  taskFor(cfg: Cfg): Task<P, D> {
    const id = JSON.stringify(cfg) ?? 'undefined';
    let t = this.taskCache.get(id);
    if (!t) {
      if (this.taskCache.size >= TASK_CACHE_LIMIT) this.taskCache.clear();
      t = this.taskFamily.taskFn(cfg);
      this.taskCache.set(id, t);
    }
    return t;
  }

  private thetas(theta: Theta | Theta[], vector: boolean | undefined): (i: number) => Theta {
    if (!vector) return () => theta as Theta;
    if (!Array.isArray(theta) || theta.length !== this.numTasks) {
      const got = Array.isArray(theta) ? `a list of ${theta.length}` : 'a single theta';
      throw new Error(`VectorizedLOptTruncatedStep: thetaIsVector needs a list of ${this.numTasks} thetas, got ${got}`);
    }
    return (i) => theta[i] as Theta;
  }

  private optimizers(theta: Theta | Theta[], vector: boolean | undefined): Optimizer[] {
    const th = this.thetas(theta, vector);
    if (!vector) {
      const opt = this.learnedOpt.optFn(th(0), true);
      return Array.from({ length: this.numTasks }, () => opt);
    }
    return Array.from({ length: this.numTasks }, (_, i) => this.learnedOpt.optFn(th(i), true));
  }

  private checkState(state: LOptTruncatedUnrollState<Cfg>): void {
    const k = this.numTasks;
    const fields = ['innerStep', 'truncationState', 'taskParam', 'isDone'] as const;
    const inner = state.innerOptState;
    if (!Array.isArray(inner)) {
      const it = (inner as Partial<StackedOptState> | undefined)?.iteration;
      if (!inner || typeof inner !== 'object' || !(it instanceof tf.Tensor) || it.rank !== 1 || it.shape[0] !== k) {
        throw new Error(
          `VectorizedLOptTruncatedStep: state.innerOptState must hold ${k} optimizer states (numTasks), one per problem or stacked on a leading axis`,
        );
      }
    } else if (inner.length !== k) {
      throw new Error(
        `VectorizedLOptTruncatedStep: state.innerOptState must hold ${k} entries (numTasks), got ${inner.length} entries`,
      );
    }
    for (const f of fields) {
      const v = (state as unknown as Record<string, unknown>)[f];
      if (!Array.isArray(v) || v.length !== k) {
        const got = Array.isArray(v) ? `${v.length} entries` : typeof v;
        throw new Error(`VectorizedLOptTruncatedStep: state.${f} must hold ${k} entries (numTasks), got ${got}`);
      }
    }
  }

  /** A fresh problem: a sampled task, its parameters and the optimizer state for them. */
  private resetOne(opt: Optimizer, key: PRNGKey, numSteps: number | undefined): [OptState, Cfg] {
    const [k1, k2, k3] = random.split(key, 3);
    const cfg = this.taskFamily.sample(k1!);
    const [p, s] = this.taskFor(cfg).initWithState(k2!);
    return [opt.init(p, { modelState: s, numSteps, key: k3! }), cfg];
  }

  /**
   * The training problems' updates as one call of the learned optimizer's
   * `vectorizedOptFn` (states stacked on a leading axis, then split); `undefined` when
   * the states cannot be stacked and the updates must run one problem at a time.
   */
  private vectorizedUpdate(
    theta: Theta | Theta[],
    vector: boolean | undefined,
    train: number[],
    states: OptState[],
    grads: P[],
    losses: tf.Tensor1D,
    key: PRNGKey,
  ): OptState[] | undefined {
    if (train.length < 2) return undefined;
    const th = this.thetas(theta, vector);
    const stackedState = stackOptStates(train.map((i) => states[i]!));
    if (!stackedState) return undefined;
    const stackedGrads = stackTrees(grads)!;
    const opt = this.learnedOpt.vectorizedOptFn(
      train.map((i) => th(i)),
      true,
    );
    const next = opt.update(stackedState, stackedGrads, { loss: losses, key });
    return unstackTree<OptState>(next, train.length, 'VectorizedLOptTruncatedStep');
  }

  /** The K problems' states one per problem (split when kept stacked: new tensors, inside a tidy). */
  private perProblem(inner: OptState[] | StackedOptState): OptState[] {
    if (Array.isArray(inner)) return inner;
    return unstackTree<OptState>(inner, this.numTasks, 'VectorizedLOptTruncatedStep');
  }

  /**
   * The states as kept between steps: stacked when K > 1 and they stack (one shape, no
   * model state), so the next step needs no stacking; one per problem otherwise.
   */
  private keepStacked(states: OptState[]): OptState[] | StackedOptState {
    if (states.length < 2 || states.some((s) => s.modelState !== undefined && s.modelState !== null)) return states;
    return stackOptStates(states) ?? states;
  }

  /**
   * The K losses at parameters stacked on a leading axis, `[K]`: one batched call when
   * the problems share a task with a batched loss (as `autoLosses` and `stackedLosses`
   * decide), one problem at a time on the split parameters otherwise.
   */
  private stackedParamsLosses(tasks: Task<P, D>[], params: P, keys: PRNGKey[], datas: D[]): tf.Tensor1D {
    const K = tasks.length;
    const batched =
      this.batching === 'off'
        ? undefined
        : (this.batchedLoss ?? (hasBatchedLoss(tasks[0]!) ? perProblemBatchedLoss : undefined));
    if (batched && tasks.every((t) => t === tasks[0])) {
      const l = batched(tasks[0]!, params, keys, datas);
      if (l.rank !== 1 || l.shape[0] !== K) {
        throw new Error(`batched loss: expected ${K} losses, got shape [${l.shape.join(', ')}]`);
      }
      return l;
    }
    return loopedLosses(tasks, unstackTree<P>(params, K, 'VectorizedLOptTruncatedStep'), keys, datas);
  }

  /** Fresh states of the K problems: sampled tasks, initial parameters, optimizer states, truncations. */
  initStepState(
    theta: Theta | Theta[],
    outerState: OuterState,
    key: PRNGKey,
    opts: InitStepStateOptions = {},
  ): LOptTruncatedUnrollState<Cfg> {
    this.thetas(theta, opts.thetaIsVector);
    // optFn may make tensors (hyperparameters from theta): it runs inside the tidy.
    return tidy(() => this.initStepStateInner(this.optimizers(theta, opts.thetaIsVector), outerState, key, opts));
  }

  private initStepStateInner(
    opts_: Optimizer[],
    outerState: OuterState,
    key: PRNGKey,
    opts: InitStepStateOptions,
  ): LOptTruncatedUnrollState<Cfg> {
    const [key1, key2] = random.split(key);
    const keys = random.split(key1!, this.numTasks);
    const state: LOptTruncatedUnrollState<Cfg> & { innerOptState: OptState[] } = {
      innerOptState: [],
      innerStep: [],
      truncationState: [],
      taskParam: [],
      isDone: [],
    };
    for (let i = 0; i < this.numTasks; i++) {
      const [k1, k2, k3, k4] = random.split(keys[i]!, 4);
      const cfg = this.taskFamily.sample(k1!);
      const [p, s] = this.taskFor(cfg).initWithState(k2!);
      const ts = this.truncSched.init(k3!, outerState);
      const numSteps = opts.numStepsOverride ?? lengthOf(ts);
      state.innerOptState.push(opts_[i]!.init(p, { modelState: s, numSteps, key: k4! }));
      state.innerStep.push(0);
      state.truncationState.push(ts);
      state.taskParam.push(cfg);
      state.isDone.push(false);
    }
    // Random starting steps keep the K problems from running in lock step.
    if (this.randomInitialIterationOffset > 0) {
      state.innerStep = Array.from(random.randintArray(key2!, this.numTasks, 0, this.randomInitialIterationOffset));
    }
    return { ...state, innerOptState: this.keepStacked(state.innerOptState) };
  }

  /** `steps` inner steps' worth of training data, one batch per problem (dispose after use). */
  getBatch(steps: number): LOptStepData<D>[] {
    checkPositiveInt(steps, 'getBatch: steps');
    const ds = this.taskFamily.datasets;
    const draw = (split: string) =>
      Array.from({ length: this.numTasks }, () => nextBatch<D>(ds, split, 'VectorizedLOptTruncatedStep'));
    return Array.from({ length: steps }, () => {
      const train = draw('train');
      if (this.metaLossSplit === null) return { train };
      if (this.metaLossSplit === 'sameData') return { train, meta: train };
      return { train, meta: draw(this.metaLossSplit) };
    });
  }

  /** `steps` inner steps' worth of meta-loss data from `outerDataSplit` (dispose after use). */
  getOuterBatch(steps: number): LOptStepData<D>[] {
    checkPositiveInt(steps, 'getOuterBatch: steps');
    const ds = this.taskFamily.datasets;
    return Array.from({ length: steps }, () => ({
      train: Array.from({ length: this.numTasks }, () =>
        nextBatch<D>(ds, this.outerDataSplit, 'VectorizedLOptTruncatedStep'),
      ),
    }));
  }

  /** Applies each problem's task normalizer (one call when all problems share a task). */
  private normalize(losses: tf.Tensor1D, cfgs: Cfg[]): tf.Tensor1D {
    return tidy(() => {
      const tasks = cfgs.map((c) => this.taskFor(c));
      if (tasks.every((t) => t === tasks[0])) return tf.reshape(tasks[0]!.normalizer(losses), [-1]) as tf.Tensor1D;
      const parts = tf.unstack(losses);
      return tf.stack(tasks.map((t, i) => tf.reshape(t.normalizer(parts[i]!), []))) as tf.Tensor1D;
    });
  }

  /**
   * The end of `unrollStep`: the reported losses (on the meta-loss batch when
   * `metaLossSplit` asks for one), normalised and masked, with the new states.
   */
  private finishStep(
    theta: Theta | Theta[],
    opts: UnrollStepOptions,
    optStates: OptState[] | StackedOptState,
    trainLoss: tf.Tensor1D,
    nextCfg: Cfg[],
    data: LOptStepData<D>,
    key: PRNGKey,
    state: LOptTruncatedUnrollState<Cfg>,
  ): { optStates: OptState[] | StackedOptState; loss: tf.Tensor1D } {
    const K = this.numTasks;
    let loss = trainLoss;
    if (this.metaLossSplit !== null) {
      if (!data.meta || data.meta.length !== K) {
        throw new Error(`VectorizedLOptTruncatedStep.unrollStep: metaLossSplit needs data.meta with ${K} batches`);
      }
      const metaKeys = random.split(key, K);
      const tasks = nextCfg.map((c) => this.taskFor(c));
      if (Array.isArray(optStates)) {
        const opts_ = this.optimizers(theta, opts.thetaIsVector);
        const params = optStates.map((s, i) => opts_[i]!.getParams(s) as P);
        loss = this.losses(tasks, params, metaKeys, data.meta);
      } else {
        const th = this.thetas(theta, opts.thetaIsVector);
        const vec = this.learnedOpt.vectorizedOptFn(
          Array.from({ length: K }, (_, i) => th(i)),
          true,
        );
        loss = this.stackedParamsLosses(tasks, vec.getParams(optStates) as P, metaKeys, data.meta);
      }
    }
    const mask = tf.tensor1d(state.isDone.map((d) => (d ? 0 : 1)));
    // Normalised with the task each problem had when the step began, as the reference does.
    return { optStates, loss: tf.mul(this.normalize(loss, state.taskParam), mask) as tf.Tensor1D };
  }

  /** Trains each problem one step, or resets it when its truncation is done (inputs are not disposed). */
  unrollStep(
    theta: Theta | Theta[],
    state: LOptTruncatedUnrollState<Cfg>,
    key: PRNGKey,
    data: LOptStepData<D>,
    outerState: OuterState,
    opts: UnrollStepOptions = {},
  ): [LOptTruncatedUnrollState<Cfg>, TruncatedUnrollOut<Cfg>] {
    this.checkState(state);
    const K = this.numTasks;
    if (!data || !Array.isArray(data.train) || data.train.length !== K) {
      throw new Error(`VectorizedLOptTruncatedStep.unrollStep: data.train must hold ${K} batches (one per task)`);
    }
    this.thetas(theta, opts.thetaIsVector);
    const [key1, key2] = random.split(key);
    const taskKeys = random.split(key1!, K).map((k) => random.split(k));
    const train: number[] = [];
    for (let i = 0; i < K; i++) if (!state.isDone[i]) train.push(i);

    const nextCfg = state.taskParam.slice();
    const nextStep = state.innerStep.slice();
    const { optStates, loss } = tidy(() => {
      const stacked = Array.isArray(state.innerOptState) ? undefined : state.innerOptState;
      if (stacked && train.length === K) {
        // Every problem trains and the states are stacked: one batched loss and gradient
        // over the stacked parameters and one vectorized update, with no stacking or
        // splitting of states (the K problems as one vmap of the single-problem step).
        const th = this.thetas(theta, opts.thetaIsVector);
        const tasks = state.taskParam.map((c) => this.taskFor(c));
        const split2 = taskKeys.map((k) => random.split(k[0]!));
        const lossKeys = split2.map((k) => k[0]!);
        const f = (ps: P): [tf.Scalar, tf.Tensor1D] => {
          const l = this.stackedParamsLosses(tasks, ps, lossKeys, data.train);
          return [tf.sum(l), l];
        };
        const opt = this.learnedOpt.vectorizedOptFn(
          Array.from({ length: K }, (_, i) => th(i)),
          true,
        );
        const [[, l], g] = valueAndGrad(f, { hasAux: true })(opt.getParams(stacked) as P);
        const next = opt.update(stacked, g, { loss: l, key: split2[0]![1]! });
        for (let i = 0; i < K; i++) nextStep[i] = state.innerStep[i]! + 1;
        return this.finishStep(theta, opts, next, l, nextCfg, data, key2!, state);
      }
      const opts_ = this.optimizers(theta, opts.thetaIsVector);
      const inner = this.perProblem(state.innerOptState);
      const optStates: OptState[] = inner.slice();
      const perTask: tf.Scalar[] = Array.from({ length: K }, () => tf.scalar(0));
      if (train.length > 0) {
        const tasks = train.map((i) => this.taskFor(state.taskParam[i]!));
        const params = train.map((i) => opts_[i]!.getParams(inner[i]!) as P);
        const modelStates = train.map((i) => opts_[i]!.getState(inner[i]!));
        const split2 = train.map((i) => random.split(taskKeys[i]![0]!));
        const lossKeys = split2.map((k) => k[0]!);
        const datas = train.map((i) => data.train[i]!);
        const withState = modelStates.some((s) => s !== undefined && s !== null);
        // One gradient call for all training problems: their losses are independent, so
        // the gradient of the sum gives each problem its own gradient.
        const f = (ps: P[]): [tf.Scalar, { losses: tf.Tensor1D; states: unknown[] }] => {
          if (withState) {
            const outs = tasks.map((t, j) => t.lossWithState(ps[j]!, modelStates[j], lossKeys[j]!, datas[j]!));
            const l = tf.stack(outs.map((o) => tf.reshape(o[0], []))) as tf.Tensor1D;
            return [tf.sum(l), { losses: l, states: outs.map((o) => o[1]) }];
          }
          const l = this.losses(tasks, ps, lossKeys, datas);
          return [tf.sum(l), { losses: l, states: modelStates }];
        };
        const [[, aux], grads] = valueAndGrad(f, { hasAux: true })(params);
        const ls = tf.unstack(aux.losses) as tf.Scalar[];
        const updated = withState
          ? undefined
          : this.vectorizedUpdate(theta, opts.thetaIsVector, train, inner, grads, aux.losses, split2[0]![1]!);
        train.forEach((i, j) => {
          optStates[i] =
            updated?.[j] ??
            opts_[i]!.update(inner[i]!, grads[j]!, {
              loss: ls[j]!,
              modelState: aux.states[j],
              key: split2[j]![1]!,
            });
          perTask[i] = ls[j]!;
          nextStep[i] = state.innerStep[i]! + 1;
        });
      }
      for (let i = 0; i < K; i++) {
        if (!state.isDone[i]) continue;
        const numSteps = opts.overrideNumSteps ?? lengthOf(state.truncationState[i]);
        const [s, cfg] = this.resetOne(opts_[i]!, taskKeys[i]![0]!, numSteps);
        optStates[i] = s;
        nextCfg[i] = cfg;
        nextStep[i] = 0;
      }
      return this.finishStep(
        theta,
        opts,
        this.keepStacked(optStates),
        tf.stack(perTask) as tf.Tensor1D,
        nextCfg,
        data,
        key2!,
        state,
      );
    });

    const truncationState: unknown[] = [];
    const isDone: boolean[] = [];
    for (let i = 0; i < K; i++) {
      const [ts, done] = this.truncSched.nextState(
        state.truncationState[i],
        nextStep[i]!,
        taskKeys[i]![1]!,
        outerState,
      );
      truncationState.push(ts);
      isDone.push(done);
    }
    const next: LOptTruncatedUnrollState<Cfg> = {
      innerOptState: optStates,
      innerStep: nextStep,
      truncationState,
      taskParam: nextCfg,
      isDone,
    };
    const out: TruncatedUnrollOut<Cfg> = {
      loss,
      isDone: isDone.slice(),
      taskParam: state.taskParam.slice(),
      iteration: nextStep.slice(),
      mask: nextStep.map((s) => s !== 0),
    };
    return [next, out];
  }

  /** Each problem's normalised loss at its current parameters, `[K]`, without training. */
  metaLossBatch(
    theta: Theta | Theta[],
    state: LOptTruncatedUnrollState<Cfg>,
    key: PRNGKey,
    data: LOptStepData<D>,
    _outerState: OuterState,
    thetaIsVector?: boolean,
  ): tf.Tensor1D {
    this.checkState(state);
    return tidy(() => {
      const opts_ = this.optimizers(theta, thetaIsVector);
      const keys = random.split(key, this.numTasks);
      const tasks = state.taskParam.map((c) => this.taskFor(c));
      const params = this.perProblem(state.innerOptState).map((s, i) => opts_[i]!.getParams(s) as P);
      return this.normalize(this.losses(tasks, params, keys, data.train), state.taskParam);
    });
  }
}

function lengthOf(truncationState: unknown): number | undefined {
  const l = (truncationState as { length?: unknown } | undefined)?.length;
  return typeof l === 'number' ? l : undefined;
}
