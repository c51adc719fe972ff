/**
 * The PES estimator of the `PES outer step` cases, as a module a worker thread can
 * import (`ThreadedGradientEstimator` builds each shard's estimator from it): a learned
 * optimizer meta-trained with TruncatedPES, truncation length 10, LogUniform(100, 300)
 * truncations, on ImageMLP_FashionMnist8_Relu32 with `numTasks` inner problems.
 */

import { readFileSync } from 'node:fs';
import { AdafacMLPLOpt, LearnableAdam, type LearnedOptimizer, MLPLOpt } from '@lopt/learned';
import {
  GradientEstimator,
  type GradientEstimatorOut,
  LogUniformLengthSchedule,
  type Metrics,
  singleTaskToFamily,
  TruncatedPES,
  VectorizedLOptTruncatedStep,
  type WorkerWeights,
} from '@lopt/outer-trainers';
import type { PRNGKey } from '@lopt/pytree';
import { imageMlp } from '@lopt/tasks';

/** The learned optimizers with a K-problem path. */
export type LoptName = 'MLPLOpt' | 'AdafacMLPLOpt' | 'LearnableAdam';

/** A fresh learned optimizer by name. */
export const makeLopt = (name: LoptName): LearnedOptimizer<unknown> =>
  (name === 'MLPLOpt' ? new MLPLOpt() : name === 'AdafacMLPLOpt' ? new AdafacMLPLOpt() : new LearnableAdam()) as never;

/** The task family every case trains on. */
export async function pesFamily() {
  return singleTaskToFamily(await imageMlp.ImageMLP_FashionMnist8_Relu32());
}

/** TruncatedPES over `numTasks` problems of `family` with `lopt`. */
export function pesEstimatorOf(
  family: Awaited<ReturnType<typeof pesFamily>>,
  lopt: LearnedOptimizer<unknown>,
  numTasks: number,
) {
  const step = new VectorizedLOptTruncatedStep(family, lopt, new LogUniformLengthSchedule(100, 300), numTasks, {
    randomInitialIterationOffset: 300,
  });
  return new TruncatedPES(step, { truncLength: 10 });
}

/** The factory a thread calls (an `EstimatorFactory` of `@lopt/distributed`). */
export async function pesEstimator(args: { lopt: LoptName; numTasks: number }) {
  return pesEstimatorOf(await pesFamily(), makeLopt(args.lopt), args.numTasks);
}

/** CPU seconds the calling thread has run (Linux `/proc/thread-self/schedstat`), or NaN elsewhere. */
export function threadCpuSeconds(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e9;
  } catch {
    return Number.NaN;
  }
}

/** Adds `threadCpuSeconds` (the CPU time of the thread that ran it) to an estimator's metrics. */
export class CpuTimed extends GradientEstimator {
  constructor(private readonly inner: GradientEstimator) {
    super();
  }
  /** The wrapped estimator's truncated step. */
  get truncatedStep() {
    return this.inner.truncatedStep;
  }
  /** The wrapped estimator's first state. */
  initWorkerState(ww: WorkerWeights, key: PRNGKey): unknown {
    return this.inner.initWorkerState(ww, key);
  }
  /** The wrapped estimator's estimate, timed. */
  computeGradientEstimate(
    ww: WorkerWeights,
    key: PRNGKey,
    state: unknown,
    opts?: { withSummary?: boolean },
  ): [GradientEstimatorOut, Metrics] {
    const c0 = threadCpuSeconds();
    const [out, m] = this.inner.computeGradientEstimate(ww, key, state, opts);
    return [out, { ...m, threadCpuSeconds: threadCpuSeconds() - c0 }];
  }
}

/** `pesEstimator`, its metrics telling the CPU time of the thread that computed each estimate. */
export async function pesEstimatorCpuTimed(args: { lopt: LoptName; numTasks: number }) {
  return new CpuTimed((await pesEstimator(args)) as never);
}
