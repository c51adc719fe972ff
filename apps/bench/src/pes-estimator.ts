/**
 * The PES estimator of the `PES outer step` cases, as a module a worker thread can
 * import (`ThreadedGradientEstimator` builds each shard's estimator from it): a learned
 * optimizer meta-trained with TruncatedPES, truncation length 10, LogUniform(100, 300)
 * truncations, on ImageMLP_FashionMnist8_Relu32 with `numTasks` inner problems.
 */
import { AdafacMLPLOpt, LearnableAdam, type LearnedOptimizer, MLPLOpt } from '@lopt/learned';
import {
  LogUniformLengthSchedule,
  singleTaskToFamily,
  TruncatedPES,
  VectorizedLOptTruncatedStep,
} from '@lopt/outer-trainers';
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
