// Part 4: gradient estimators (the reference walkthrough's Part 4, "GradientEstimators",
// in TypeScript). Run: `npx tsx src/part4-gradient-estimators.ts`.
import { LearnableAdam, type LearnableAdamTheta } from '@lopt/learned';
import {
  ConstantTruncationSchedule,
  disposeExcept,
  FullES,
  NeverEndingTruncationSchedule,
  TruncatedGrad,
  TruncatedPES,
  VectorizedLOptTruncatedStep,
  type WorkerWeights,
} from '@lopt/outer-trainers';
import { random, treeDispose, treeMap } from '@lopt/pytree';
import { FixedDimQuadraticFamily } from '@lopt/tasks';

/** Options of `runPart4`. */
export interface Part4Options {
  /** Problems per estimator (walkthrough: 3). */
  numTasks?: number;
  /** Where output goes (default `console.log`). */
  log?: (...args: unknown[]) => void;
}

type Grad = Record<string, number>;

/** What `runPart4` observed. */
export interface Part4Result {
  /** FullES gradient of LearnableAdam's theta. */
  fullES: Grad;
  /** Two consecutive PES gradients, and the inner steps before and after the second. */
  pes: { grads: Grad[]; innerStepBefore: number[]; innerStepAfter: number[] };
  /** TruncatedGrad gradient. */
  truncatedGrad: Grad;
}

const asNumbers = (g: LearnableAdamTheta): Grad => treeMap((x) => x.dataSync()[0]!, g) as unknown as Grad;

/** Part 4 of the walkthrough: FullES, TruncatedPES and TruncatedGrad on quadratics. */
export async function runPart4(opts: Part4Options = {}): Promise<Part4Result> {
  const log = opts.log ?? console.log;
  const numTasks = opts.numTasks ?? 3;
  const taskFamily = new FixedDimQuadraticFamily(10);
  const lopt = new LearnableAdam();
  const outerState = { outerIteration: 0 };

  // FullES: no truncations inside the step (a never-ending schedule); the estimator
  // draws each unroll's length itself and perturbs theta antithetically:
  // grad ~ eps / (2 sigma^2) * (f(theta + eps) - f(theta - eps)).
  // #region full-es
  let truncatedStep = new VectorizedLOptTruncatedStep(taskFamily, lopt, new NeverEndingTruncationSchedule(), numTasks);
  const fullEs = new FullES(truncatedStep, new ConstantTruncationSchedule(10));
  let key = random.PRNGKey(0);
  let theta = truncatedStep.outerInit(key);
  let ww: WorkerWeights<LearnableAdamTheta> = { theta, thetaModelState: undefined, outerState };
  const esState = fullEs.initWorkerState();
  log('FullES state (nothing kept between estimates):', esState);
  const [esOut] = fullEs.computeGradientEstimate(ww, key, esState);
  const fullES = asNumbers(esOut.grad);
  log('FullES grad:', fullES);
  treeDispose(esOut.grad, theta);
  // #endregion full-es

  // #region pes
  // PES: truncated unrolls whose ES weights accumulate over the whole trajectory.
  truncatedStep = new VectorizedLOptTruncatedStep(taskFamily, lopt, new ConstantTruncationSchedule(10), numTasks, {
    randomInitialIterationOffset: 10,
  });
  const pes = new TruncatedPES(truncatedStep, { truncLength: 10 });
  key = random.PRNGKey(1);
  theta = truncatedStep.outerInit(key);
  ww = { theta, thetaModelState: undefined, outerState };
  const pesState = pes.initWorkerState(ww, key);
  log(
    'PES state shapes:',
    treeMap((x) => x.shape, pesState.accumulator),
    'inner steps',
    pesState.posState.innerStep,
  );
  const [o1] = pes.computeGradientEstimate(ww, key, pesState);
  const innerStepBefore = o1.unrollState.posState.innerStep.slice();
  log('Progress on inner problem before', innerStepBefore);
  const [o2] = pes.computeGradientEstimate(ww, random.foldIn(key, 1), o1.unrollState);
  const innerStepAfter = o2.unrollState.posState.innerStep.slice();
  log('Progress on inner problem after', innerStepAfter);
  const pesGrads = [asNumbers(o1.grad), asNumbers(o2.grad)];
  log('PES grads:', pesGrads);
  disposeExcept(pesState, o1.unrollState);
  disposeExcept(o1, o2.unrollState);
  disposeExcept(o2);
  // #endregion pes

  // #region truncated-grad
  // TruncatedGrad: backpropagation through 5 unrolled steps, carrying the inner states on.
  const tgrad = new TruncatedGrad(truncatedStep, { unrollLength: 5, stepsPerJit: 5 });
  const tgState = tgrad.initWorkerState(ww, key);
  const [tgOut] = tgrad.computeGradientEstimate(ww, key, tgState);
  const truncatedGrad = asNumbers(tgOut.grad);
  log('TruncatedGrad grad:', truncatedGrad);
  disposeExcept(tgState, tgOut.unrollState);
  disposeExcept(tgOut);
  // #endregion truncated-grad
  treeDispose(theta);
  return { fullES, pes: { grads: pesGrads, innerStepBefore, innerStepAfter }, truncatedGrad };
}

if (import.meta.url === `file://${process.argv[1]}`) await runPart4();
