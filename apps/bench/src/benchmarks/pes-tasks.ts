/**
 * One PES outer step (learned_optimization's Part 5 setup: MLPLOpt meta-trained with
 * TruncatedPES, truncation length 10, LogUniform(100, 300) truncations, outer Adam) on
 * ImageMLP_FashionMnist8_Relu32, with 8 inner problems against 1. Setup also prints
 * outer steps per second for 1, 4, 8 and 16 problems (the reference's Part 5 notebook
 * reports about 13 outer steps/s for 4 problems with truncation length 50, hardware unstated).
 */
import { LearnableAdam, type LearnedOptimizer, MLPLOpt } from '@lopt/learned';
import { Adam } from '@lopt/optimizers';
import {
  disposeExcept,
  LogUniformLengthSchedule,
  SingleMachineGradientLearner,
  type SingleMachineState,
  singleTaskToFamily,
  TruncatedPES,
  VectorizedLOptTruncatedStep,
} from '@lopt/outer-trainers';
import { random } from '@lopt/pytree';
import { imageMlp } from '@lopt/tasks';
import type { RatioCase } from '../harness.js';

type Family = ReturnType<typeof singleTaskToFamily>;

/** A PES learner over `numTasks` problems, and a function running one outer step. */
function pesRunner(family: Family, numTasks: number, lopt: LearnedOptimizer<unknown> = new MLPLOpt() as never) {
  const step = new VectorizedLOptTruncatedStep(family, lopt, new LogUniformLengthSchedule(100, 300), numTasks, {
    randomInitialIterationOffset: 300,
  });
  const learner = new SingleMachineGradientLearner(lopt, [new TruncatedPES(step, { truncLength: 10 })], new Adam(1e-3));
  let state: SingleMachineState<unknown> = learner.init(random.PRNGKey(0)) as SingleMachineState<unknown>;
  let i = 0;
  return {
    step: () => {
      state = learner.update(state as never, random.PRNGKey(++i)).state as SingleMachineState<unknown>;
    },
    dispose: () => disposeExcept(state),
  };
}

const pesTasks: RatioCase = {
  name: 'PES outer step, 8 tasks vs 1 task',
  goal: '<= 3x',
  goalRatio: 3,
  peerName: '1 task',
  itersPerBlock: 5,
  async setup() {
    const family = singleTaskToFamily(await imageMlp.ImageMLP_FashionMnist8_Relu32());
    // The sweep, and the same with LearnableAdam, whose update is cheap, so the share of
    // the batched inner forward/backward passes shows.
    const sweep: [string, number][] = [1, 4, 8, 16].map((k) => ['MLPLOpt', k]);
    sweep.push(['LearnableAdam', 1], ['LearnableAdam', 8]);
    for (const [name, k] of sweep) {
      const lopt = name === 'MLPLOpt' ? new MLPLOpt() : new LearnableAdam();
      const r = pesRunner(family, k, lopt as never);
      r.step();
      const t0 = performance.now();
      const n = 3;
      for (let i = 0; i < n; i++) r.step();
      const perSecond = n / ((performance.now() - t0) / 1000);
      process.stderr.write(
        `  PES ${name}, ${k} task(s): ${perSecond.toFixed(2)} outer steps/s (truncation length 10)\n`,
      );
      r.dispose();
    }
    const eight = pesRunner(family, 8);
    const one = pesRunner(family, 1);
    // First steps separate the shared initial pos/neg states and warm the kernels.
    eight.step();
    one.step();
    return {
      lopt: () => eight.step(),
      peer: () => one.step(),
      dispose: () => {
        eight.dispose();
        one.dispose();
      },
    };
  },
};

export default pesTasks;
