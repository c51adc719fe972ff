import type { EncodedTree, Metrics } from '@lopt/outer-trainers';

/** How the learner applies estimates: `sync` waits for N of the current theta; `async` takes any N within the staleness bound. */
export type DistributedMode = 'sync' | 'async';

/**
 * A request for one gradient estimate, the body of a job on the requests queue: the
 * theta of version `version` (the outer iteration it belongs to) and the key to use.
 */
export interface EstimateRequest {
  /** The learner incarnation that asked (a restarted learner has a new one). */
  generation: string;
  /** The theta version: the outer iteration of the learner when it asked. */
  version: number;
  /** The request's number within its generation (sync: 0..N-1 per step). */
  slot: number;
  /** 0 for the first request of a slot, then 1, 2, ... for replacements. */
  attempt: number;
  /** How the learner applies estimates. */
  mode: DistributedMode;
  /** The staleness bound of async mode (versions older than `current - staleness` are dropped). */
  staleness: number;
  /** Theta, encoded with `encodeTree` (float32 tensors as base64 of their bytes). */
  theta: EncodedTree;
  /** The PRNG key of the estimate, as two uint32 words. */
  key: [number, number];
}

/** A gradient estimate sent back by a worker: the body of a job on the results queue. */
export interface EstimateResult {
  /** `estimate`, or `skipped` when the worker found the request already too stale to compute. */
  kind: 'estimate' | 'skipped';
  /** Copied from the request. */
  generation: string;
  /** The theta version the estimate was computed with. */
  version: number;
  /** Copied from the request. */
  slot: number;
  /** Copied from the request. */
  attempt: number;
  /** Id of the request job. */
  jobId: string;
  /** Who computed it. */
  workerId: string;
  /** The estimated meta-gradient, encoded (absent when skipped). */
  grads?: EncodedTree;
  /** The mean meta-loss behind the estimate. */
  meanLoss: number;
  /** The estimators' metrics. */
  metrics: Metrics;
  /** Seconds the worker spent on it. */
  seconds: number;
}

/** What the learner publishes about itself (a Redis key), read by workers before each job. */
export interface LearnerHead {
  /** The learner incarnation. */
  generation: string;
  /** The current theta version (outer iteration). */
  version: number;
  /** The run has reached its last outer step. */
  done: boolean;
  /** How estimates are applied. */
  mode: DistributedMode;
  /** The staleness bound of async mode. */
  staleness: number;
}

/**
 * The learner's current theta (a Redis key, JSON), written with its head in async mode. An
 * async worker starts each estimate from it rather than from the theta its request
 * carries, which waited in the queue while the learner moved on (as the reference's
 * workers fetch the latest weights before each estimate).
 */
export interface ThetaRecord {
  /** The learner incarnation. */
  generation: string;
  /** Theta's version (outer iteration). */
  version: number;
  /** Theta, encoded with `encodeTree`. */
  theta: EncodedTree;
}

/** Names of a run's queues and keys in Redis. */
export interface RunKeys {
  /** BullMQ key prefix. */
  prefix: string;
  /** Queue of estimate requests (learner to workers). */
  requests: string;
  /** Queue of estimates (workers to learner). */
  results: string;
  /** Key holding the `LearnerHead` as JSON. */
  head: string;
  /** Key holding the current theta as a `ThetaRecord` (async mode), read by workers as they start an estimate. */
  theta: string;
  /** Key held by the running learner, so two learners never share a run. */
  learnerLock: string;
}

/** The queues and keys of run `run`; names are letters, digits, `.`, `_` and `-`. */
export function runKeys(run: string): RunKeys {
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(run)) {
    throw new Error(`run name '${run}' is not valid: use 1 to 100 letters, digits, '.', '_' or '-'`);
  }
  return {
    prefix: 'lopt',
    requests: `${run}.requests`,
    results: `${run}.results`,
    head: `lopt:${run}:head`,
    theta: `lopt:${run}:theta`,
    learnerLock: `lopt:${run}:learner`,
  };
}
