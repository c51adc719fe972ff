// The meta-training run the tests share (and their child processes): LearnableAdam
// meta-trained with truncated PES on 10-dimensional quadratics.
import { LearnableAdam } from '@lopt/learned';
import { Adam } from '@lopt/optimizers';
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
export const quadConfig = { task: 'FixedDimQuadraticFamily', dim: 10, lopt: 'LearnableAdam', tasks: 4, innerSteps: 40, truncLength: 4, std: 0.01, outerLr: 0.1 };

/** The learner's half: LearnableAdam's theta and the outer Adam. */
export function quadLearner(numSteps: number): GradientLearner {
  return new GradientLearner(new LearnableAdam() as never, new Adam(quadConfig.outerLr), { numSteps });
}

/**
 * Wraps an estimator so each estimate first announces itself on stdout and blocks for
 * `delayMs` (as a longer computation would), so a test can kill a worker mid-estimate.
 */
class AnnouncedEstimator extends GradientEstimator {
  constructor(
    private readonly inner: GradientEstimator,
    private readonly delayMs: number,
  ) {
    super();
  }
  get truncatedStep() {
    return this.inner.truncatedStep;
  }
  initWorkerState(ww: WorkerWeights, key: PRNGKey): unknown {
    return this.inner.initWorkerState(ww, key);
  }
  computeGradientEstimate(ww: WorkerWeights, key: PRNGKey, state: unknown, opts?: { withSummary?: boolean }): [GradientEstimatorOut, Metrics] {
    process.stdout.write(`estimating ${ww.outerState.outerIteration}\n`);
    if (this.delayMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, this.delayMs);
    return this.inner.computeGradientEstimate(ww, key, state, opts);
  }
}

/** A worker's half: `tasks` quadratics unrolled by truncated PES (optionally announced and slowed). */
export function quadEstimators(opts: { tasks?: number; delayMs?: number; announce?: boolean } = {}): GradientEstimator[] {
  const lopt = new LearnableAdam();
  const step = new VectorizedLOptTruncatedStep(
    new FixedDimQuadraticFamily(quadConfig.dim),
    lopt,
    new ConstantTruncationSchedule(quadConfig.innerSteps),
    opts.tasks ?? quadConfig.tasks,
    { randomInitialIterationOffset: quadConfig.innerSteps },
  );
  const pes = new TruncatedPES(step, { truncLength: quadConfig.truncLength, stepsPerJit: quadConfig.truncLength, std: quadConfig.std });
  return [opts.announce ? new AnnouncedEstimator(pes as never, opts.delayMs ?? 0) : (pes as never)];
}
