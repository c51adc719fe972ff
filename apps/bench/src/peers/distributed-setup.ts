// What the distributed benchmarks' learners and workers share.
import { LearnableAdam, type LearnedOptimizer, MLPLOpt } from '@lopt/learned';
import { Adam } from '@lopt/optimizers';
import {
  type GradientEstimator,
  GradientLearner,
  LogUniformLengthSchedule,
  singleTaskToFamily,
  TruncatedPES,
  VectorizedLOptTruncatedStep,
} from '@lopt/outer-trainers';
import { imageMlp } from '@lopt/tasks';

/** Part 5's estimator over `tasks` problems of ImageMLP_FashionMnist8_Relu32: PES, truncations of 10 steps. */
export async function pesEstimators(lopt: LearnedOptimizer<unknown>, tasks: number): Promise<GradientEstimator[]> {
  const family = singleTaskToFamily(await imageMlp.ImageMLP_FashionMnist8_Relu32());
  const step = new VectorizedLOptTruncatedStep(family, lopt, new LogUniformLengthSchedule(100, 300), tasks, {
    randomInitialIterationOffset: 300,
  });
  return [new TruncatedPES(step, { truncLength: 10 }) as GradientEstimator];
}

/** The speed benchmark's estimator: MLPLOpt, 4 problems. */
export function distributedBenchEstimators(): Promise<GradientEstimator[]> {
  return pesEstimators(new MLPLOpt() as LearnedOptimizer<unknown>, 4);
}

/** The speed benchmark's learner: MLPLOpt's theta and the outer Adam. */
export function distributedBenchLearner(): GradientLearner {
  return new GradientLearner(new MLPLOpt() as LearnedOptimizer<unknown>, new Adam(1e-3));
}

/** The meta-loss benchmark's run: LearnableAdam meta-trained by PES, outer Adam at this rate. */
export const META_LOSS_RUN = { lopt: 'LearnableAdam', outerLr: 0.05, steps: 30, tasksPerWorker: 4 } as const;

/** The meta-loss benchmark's learned optimizer. */
export function metaLossLopt(): LearnedOptimizer<unknown> {
  return new LearnableAdam() as LearnedOptimizer<unknown>;
}

/** The meta-loss benchmark's outer optimizer. */
export function metaLossOuterOptimizer(): Adam {
  return new Adam(META_LOSS_RUN.outerLr);
}
