// Part 5: meta-training with a gradient learner (the reference walkthrough's Part 5,
// "Meta_training_with_GradientLearner", in TypeScript). Run:
// `npx tsx src/part5-meta-training.ts` (LOPT_META_TRAIN_LENGTH sets the outer steps).
import { MLPLOpt } from '@lopt/learned';
import { Adam } from '@lopt/optimizers';
import {
  disposeExcept,
  GradientLearner,
  gradientWorkerCompute,
  LogUniformLengthSchedule,
  SingleMachineGradientLearner,
  singleTaskToFamily,
  TruncatedPES,
  VectorizedLOptTruncatedStep,
} from '@lopt/outer-trainers';
import { random } from '@lopt/pytree';
import { FixedDimQuadraticFamily, type ImageTaskOptions, imageMlp, type TaskFamily } from '@lopt/tasks';

/** Options of `runPart5`. */
export interface Part5Options {
  /** Outer steps of each loop (walkthrough: 500, or `$LOPT_META_TRAIN_LENGTH`). */
  outerTrainSteps?: number;
  /** Problems per estimator in the first loop (walkthrough: 4; the second uses 4x). */
  numTasks?: number;
  /** Longest truncation (walkthrough: 300; the shortest is a third of it). */
  maxLength?: number;
  /** PES truncation length (walkthrough: 50). */
  truncLength?: number;
  /** Where the Fashion-MNIST data is. */
  data?: ImageTaskOptions;
  /** Where output goes (default `console.log`). */
  log?: (...args: unknown[]) => void;
}

/** What `runPart5` observed. */
export interface Part5Result {
  /** Meta-losses of the `SingleMachineGradientLearner` loop. */
  losses: number[];
  /** Meta-losses of the `GradientLearner` + `gradientWorkerCompute` loop. */
  workerLosses: number[];
  /** Outer steps per second of the first loop. */
  outerStepsPerSecond: number;
}

/** Part 5 of the walkthrough: meta-train MLPLOpt with PES on a quadratic and an image MLP. */
export async function runPart5(opts: Part5Options = {}): Promise<Part5Result> {
  const log = opts.log ?? console.log;
  const steps = opts.outerTrainSteps ?? Number(process.env.LOPT_META_TRAIN_LENGTH ?? 500);
  const numTasks = opts.numTasks ?? 4;
  const maxLength = opts.maxLength ?? 300;
  const truncLength = opts.truncLength ?? 50;
  // #region estimators
  const lopt = new MLPLOpt();
  const truncSched = new LogUniformLengthSchedule(Math.max(1, Math.round(maxLength / 3)), maxLength);
  const gradEstFn = <C, P, D>(taskFamily: TaskFamily<C, P, D>, k: number) =>
    new TruncatedPES(
      new VectorizedLOptTruncatedStep(taskFamily, lopt, truncSched, k, { randomInitialIterationOffset: maxLength }),
      { truncLength, stepsPerJit: truncLength },
    );
  const mlpTaskFamily = singleTaskToFamily(await imageMlp.ImageMLP_FashionMnist8_Relu32(opts.data));
  // #endregion estimators

  // #region single-machine
  // SingleMachineGradientLearner: theta, its Adam state, and each estimator's inner problems.
  const outerTrainer = new SingleMachineGradientLearner(
    lopt,
    [gradEstFn(new FixedDimQuadraticFamily(10), numTasks), gradEstFn(mlpTaskFamily, numTasks)],
    new Adam(1e-3),
  );
  let key = random.PRNGKey(0);
  let outerTrainerState = outerTrainer.init(key);
  const losses: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const out = outerTrainer.update(outerTrainerState, random.foldIn(key, i));
    outerTrainerState = out.state;
    losses.push(out.loss);
    if (i % 10 === 0 || i === steps - 1) log(`outer step ${i}: meta-loss ${out.loss.toFixed(4)}`, out.metrics);
  }
  const outerStepsPerSecond = steps / ((performance.now() - t0) / 1000);
  disposeExcept(outerTrainerState);
  // #endregion single-machine

  // #region worker-loop
  // The same with the central learner and a worker computation written out, as a
  // multi-machine setup would split them: workers get theta, send back gradients.
  const centralLearner = new GradientLearner(lopt, new Adam(1e-3));
  key = random.PRNGKey(0);
  let centralState = centralLearner.init(key);
  let workerWeights = centralLearner.getStateForWorker(centralState);
  const gradientEstimators = [
    gradEstFn(new FixedDimQuadraticFamily(10), numTasks * 4),
    gradEstFn(mlpTaskFamily, numTasks * 4),
  ];
  let unrollStates: unknown[] = gradientEstimators.map((g, i) =>
    g.initWorkerState(workerWeights, random.foldIn(key, i)),
  );
  const workerLosses: number[] = [];
  for (let i = 0; i < steps; i++) {
    workerWeights = centralLearner.getStateForWorker(centralState);
    let key1: ReturnType<typeof random.PRNGKey>;
    [key1, key] = random.split(key) as [typeof key, typeof key];
    const out = gradientWorkerCompute(workerWeights, gradientEstimators, unrollStates, key1);
    disposeExcept(unrollStates, out.unrollStates);
    unrollStates = out.unrollStates;
    [key1, key] = random.split(key) as [typeof key, typeof key];
    const [next] = centralLearner.update(centralState, [out.toPut], { key: key1 });
    disposeExcept(centralState, next);
    disposeExcept(out.toPut.thetaGrads);
    centralState = next;
    workerLosses.push(out.toPut.meanLoss);
    log(`worker loop step ${i}: meta-loss ${out.toPut.meanLoss.toFixed(4)}`);
  }
  disposeExcept(centralState);
  disposeExcept(unrollStates);
  // #endregion worker-loop
  return { losses, workerLosses, outerStepsPerSecond };
}

if (import.meta.url === `file://${process.argv[1]}`) await runPart5();
