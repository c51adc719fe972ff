// The meta-training run shared by the resume test and its child process.
import { Adam } from '@lopt/optimizers';
import { SingleMachineGradientLearner } from './gradient-learner.js';
import { VectorizedLOptTruncatedStep } from './lopt-truncated-step.js';
import { LrWdLOpt, type LrWdTheta, quadFamily } from './test-helpers.js';
import { TruncatedPES } from './truncated-pes.js';
import { LogUniformLengthSchedule } from './truncation-schedule.js';

export const resumeTestConfig = {
  seed: 7,
  family: 'TestQuadraticFamily',
  lopt: 'LrWd',
  K: 4,
  truncLength: 2,
  sched: [3, 9],
};

export function resumeTestLearner(): SingleMachineGradientLearner<LrWdTheta> {
  const lopt = new LrWdLOpt(0.1, 0.05);
  const step = new VectorizedLOptTruncatedStep(
    quadFamily({ vary: true }),
    lopt,
    new LogUniformLengthSchedule(3, 9),
    4,
    {
      randomInitialIterationOffset: 9,
    },
  );
  const pes = new TruncatedPES(step, { truncLength: 2, stepsPerJit: 2, std: 0.01 });
  return new SingleMachineGradientLearner<LrWdTheta>(lopt, [pes], new Adam(0.01));
}
