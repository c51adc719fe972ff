// The meta-training run the tests share (and their child processes): LearnableSGD
// meta-trained with truncated PES on 10-dimensional quadratics.
import { LearnableSGD } from '@lopt/learned';
import { SGD } from '@lopt/optimizers';
import {
  ConstantTruncationSchedule,
  GradientEstimator,
  type GradientEstimatorOut,
  GradientLearner,
  type Metrics,
  TruncatedPES,
  VectorizedLOptTruncatedStep,
  type WorkerWeights,
} from '@lopt/outer-trainers';
import type { PRNGKey } from '@lopt/pytree';
import { FixedDimQuadraticFamily } from '@lopt/tasks';

/** The run's configuration (its fingerprint guards resumes). */
export const quadConfig = {
  task: 'FixedDimQuadraticFamily',
  dim: 10,
  lopt: 'LearnableSGD',
  tasks: 4,
  innerSteps: 40,
  truncLength: 4,
  std: 0.01,
  outerLr: 0.03,
};

/** The outer optimizer: plain SGD on theta (the same on every backend). */
export function quadOuterOptimizer(): SGD {
  return new SGD(quadConfig.outerLr);
}

/** The learner's half: LearnableSGD's theta and the outer optimizer. */
export function quadLearner(numSteps: number): GradientLearner {
  return new GradientLearner(new LearnableSGD() as never, quadOuterOptimizer(), { numSteps });
}

/**
 * Wraps an estimator so that `before` sees each estimate's worker weights first (a test
 * announces, slows or records estimates with it).
 */
export class WatchedEstimator extends GradientEstimator {
  constructor(
    private readonly inner: GradientEstimator,
    private readonly before: (ww: WorkerWeights) => void,
  ) {
    super();
  }
  get truncatedStep() {
    return this.inner.truncatedStep;
  }
  initWorkerState(ww: WorkerWeights, key: PRNGKey): unknown {
    return this.inner.initWorkerState(ww, key);
  }
  computeGradientEstimate(
    ww: WorkerWeights,
    key: PRNGKey,
    state: unknown,
    opts?: { withSummary?: boolean },
  ): [GradientEstimatorOut, Metrics] {
    this.before(ww);
    return this.inner.computeGradientEstimate(ww, key, state, opts);
  }
}

/**
 * Each estimate first announces itself on stdout and blocks for `delayMs` (as a longer
 * computation would), so a test can kill a worker mid-estimate.
 */
function announced(inner: GradientEstimator, delayMs: number): GradientEstimator {
  return new WatchedEstimator(inner, (ww) => {
    process.stdout.write(`estimating ${ww.outerState.outerIteration}\n`);
    if (delayMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, delayMs);
  });
}

/** A worker's half: `tasks` quadratics unrolled by truncated PES (optionally announced and slowed). */
export function quadEstimators(
  opts: { tasks?: number; delayMs?: number; announce?: boolean } = {},
): GradientEstimator[] {
  const lopt = new LearnableSGD();
  const step = new VectorizedLOptTruncatedStep(
    new FixedDimQuadraticFamily(quadConfig.dim),
    lopt,
    new ConstantTruncationSchedule(quadConfig.innerSteps),
    opts.tasks ?? quadConfig.tasks,
    { randomInitialIterationOffset: quadConfig.innerSteps },
  );
  const pes = new TruncatedPES(step, {
    truncLength: quadConfig.truncLength,
    stepsPerJit: quadConfig.truncLength,
    std: quadConfig.std,
  });
  return [opts.announce ? announced(pes as never, opts.delayMs ?? 0) : (pes as never)];
}
