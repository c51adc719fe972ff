// Estimator factories for the threaded-estimator tests, imported by each worker thread:
// the shared quadratic PES run, and shards that fail in the ways a thread can.
import { GradientEstimator, type GradientEstimatorOut, type Metrics, type WorkerWeights } from '@lopt/outer-trainers';
import type { PRNGKey } from '@lopt/pytree';
import type { ShardInfo } from './estimator-module.js';
import { quadEstimators } from './test-run.js';

/** How a failing shard fails: throws while built, throws or ends its thread or spins while estimating. */
export type Failure = 'build' | 'estimate' | 'exit' | 'hang';

class FailingEstimator extends GradientEstimator {
  constructor(
    private readonly inner: GradientEstimator,
    private readonly failure: Failure,
  ) {
    super();
  }
  get truncatedStep() {
    return this.inner.truncatedStep;
  }
  initWorkerState(ww: WorkerWeights, key: PRNGKey): unknown {
    return this.inner.initWorkerState(ww, key);
  }
  computeGradientEstimate(_ww: WorkerWeights, _key: PRNGKey, _state: unknown): [GradientEstimatorOut, Metrics] {
    if (this.failure === 'estimate') throw new Error('shard estimate failed on purpose');
    if (this.failure === 'exit') process.exit(3);
    for (;;) {
      // 'hang': a computation that never ends.
    }
  }
}

/** `args.tasks` quadratics per shard; shards >= 1 fail as `args.fail` says. */
export function quadPes(args: { tasks: number; fail?: Failure }, shard: ShardInfo): GradientEstimator {
  const [pes] = quadEstimators({ tasks: args.tasks });
  if (!args.fail || shard.shard === 0) return pes!;
  if (args.fail === 'build') throw new Error('shard build failed on purpose');
  return new FailingEstimator(pes!, args.fail);
}
