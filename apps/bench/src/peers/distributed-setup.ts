// What the distributed benchmark's learner and workers share.
import { MLPLOpt } from '@lopt/learned';
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

/** Part 5's estimator: PES over 4 problems of ImageMLP_FashionMnist8_Relu32. */
export async function distributedBenchEstimators(): Promise<GradientEstimator[]> {
  const family = singleTaskToFamily(await imageMlp.ImageMLP_FashionMnist8_Relu32());
  const lopt = new MLPLOpt();
  const step = new VectorizedLOptTruncatedStep(family, lopt, new LogUniformLengthSchedule(100, 300), 4, {
    randomInitialIterationOffset: 300,
  });
  return [new TruncatedPES(step, { truncLength: 10 }) as never];
}

/** The learner's half: MLPLOpt's theta and the outer Adam. */
export function distributedBenchLearner(): GradientLearner {
  return new GradientLearner(new MLPLOpt() as never, new Adam(1e-3));
}
