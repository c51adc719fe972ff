import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  decodeTree,
  disposeExcept,
  encodeTree,
  type GradientEstimator,
  type GradientWorkerComputeOptions,
  gradientWorkerCompute,
  type WorkerWeights,
} from '@lopt/outer-trainers';
import { type PRNGKey, random } from '@lopt/pytree';
import { type Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { EstimateRequest, EstimateResult, LearnerHead, RunKeys, ThetaRecord } from './protocol.js';
import { runKeys } from './protocol.js';
import { type RedisConnection, redisOptions } from './redis-connection.js';

/** Options of `DistributedWorker`. */
export interface DistributedWorkerOptions<Theta> {
  /** The Redis server holding the run's queues. */
  connection: RedisConnection;
  /** The run to join (the learner's `run`). */
  run: string;
  /** This worker's gradient estimators: its inner problems, whose unroll states it keeps between estimates. */
  gradientEstimators: GradientEstimator<Theta>[];
  /** Seed of this worker's unroll states (default: random). Give each worker its own. */
  seed?: number;
  /** Name in the learner's metrics (default `host:pid:random`). */
  workerId?: string;
  /**
   * How long a job stays claimed without renewal (default 60000 ms). A worker killed
   * mid-estimate gives its request back after about this long; it must exceed one
   * estimate's time, since the claim cannot be renewed while an estimate computes.
   */
  lockDurationMs?: number;
  /** How often workers look for requests whose worker died (default: half of `lockDurationMs`). */
  stalledIntervalMs?: number;
  /** Options of `gradientWorkerCompute` (NaN handling). */
  computeOptions?: Omit<GradientWorkerComputeOptions, 'withMetrics'>;
  /** Stop when the learner marks the run done (default true). */
  exitWhenDone?: boolean;
  /** Called after each estimate sent. */
  onEstimate?: (info: { version: number; slot: number; meanLoss: number; seconds: number }) => void;
}

/** What `DistributedWorker.run` returns. */
export interface DistributedWorkerSummary {
  /** Estimates computed and sent. */
  estimates: number;
  /** Requests skipped: of an earlier learner incarnation, or already too stale. */
  skipped: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A worker of distributed meta-training (after learned_optimization's learner/worker
 * split): it holds its inner problems (the estimators' unroll states), takes estimate
 * requests from the run's BullMQ queue, computes each with the theta the request
 * carries (`gradientWorkerCompute`), and sends the estimate back tagged with theta's
 * version. In async mode it takes the learner's current theta as it starts an estimate
 * when that is newer than the request's (the request waited in the queue while the
 * learner moved on), so estimates are as fresh as they can be. Requests of an earlier
 * learner incarnation, or already beyond the staleness bound, are skipped without
 * computing.
 */
export class DistributedWorker<Theta = unknown> {
  /** This worker's name in the learner's metrics. */
  readonly workerId: string;
  /** Counters of this worker. */
  readonly summary: DistributedWorkerSummary = { estimates: 0, skipped: 0 };

  private readonly keys: RunKeys;
  private unrollStates?: unknown[];
  private readonly initKey: PRNGKey;
  private redis?: Redis;
  private results?: Queue;
  private worker?: Worker;
  private closing = false;
  private lastError?: string;
  private readonly seen = new Set<string>();

  constructor(readonly opts: DistributedWorkerOptions<Theta>) {
    if (opts.gradientEstimators.length === 0) throw new Error('DistributedWorker: no gradient estimators given');
    this.keys = runKeys(opts.run);
    this.workerId = opts.workerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    const seed = opts.seed ?? randomBytes(4).readUInt32LE(0) >>> 1;
    this.initKey = random.PRNGKey(seed);
  }

  /** Takes requests until the learner marks the run done (or `close` is called). */
  async run(): Promise<DistributedWorkerSummary> {
    const connection = redisOptions(this.opts.connection);
    const lockDuration = this.opts.lockDurationMs ?? 60_000;
    this.redis = new Redis(connection);
    this.redis.on('error', (e: Error) => this.noteError(e));
    this.results = new Queue(this.keys.results, { connection, prefix: this.keys.prefix });
    this.results.on('error', (e: Error) => this.noteError(e));
    this.worker = new Worker(this.keys.requests, (job: Job) => this.process(job), {
      connection,
      prefix: this.keys.prefix,
      concurrency: 1,
      lockDuration,
      stalledInterval: this.opts.stalledIntervalMs ?? Math.max(500, Math.floor(lockDuration / 2)),
      // A request may stall a few times (workers killed one after another) before it counts as failed.
      maxStalledCount: 5,
      drainDelay: 1,
      name: this.workerId,
    });
    this.worker.on('error', (e: Error) => this.noteError(e));
    try {
      while (!this.closing) {
        if (this.opts.exitWhenDone ?? true) {
          // Done only counts for a learner seen running: a finished earlier run under the
          // same name must not stop a worker waiting for the next one.
          const head = await this.readHead();
          if (head && !head.done) this.seen.add(head.generation);
          if (head?.done && this.seen.has(head.generation)) break;
        }
        await sleep(250);
      }
    } finally {
      await this.shutdown();
    }
    return { ...this.summary };
  }

  /** Stops taking requests (the current estimate finishes) and makes `run` return. */
  async close(): Promise<void> {
    this.closing = true;
  }

  /** The last connection error seen (connections are retried; this is for messages). */
  get lastConnectionError(): string | undefined {
    return this.lastError;
  }

  private noteError(e: Error): void {
    this.lastError = e.message;
  }

  private async shutdown(): Promise<void> {
    await Promise.allSettled([this.worker?.close(), this.results?.close()]);
    this.redis?.disconnect();
    if (this.unrollStates) disposeExcept(this.unrollStates);
    this.unrollStates = undefined;
  }

  private async readHead(): Promise<LearnerHead | undefined> {
    try {
      const text = await this.redis!.get(this.keys.head);
      return text ? (JSON.parse(text) as LearnerHead) : undefined;
    } catch (e) {
      this.noteError(e as Error);
      return undefined;
    }
  }

  /**
   * The head and, in async mode, the learner's current theta when it is newer than the
   * request's (in one round trip); `undefined` for either when Redis does not have it.
   */
  private async readHeadAndTheta(req: EstimateRequest): Promise<{ head?: LearnerHead; latest?: ThetaRecord }> {
    if (req.mode !== 'async') return { head: await this.readHead() };
    try {
      const [headText, thetaText] = await this.redis!.mget(this.keys.head, this.keys.theta);
      const head = headText ? (JSON.parse(headText) as LearnerHead) : undefined;
      // Theta is parsed only when the learner has moved on since the request was made.
      const newer = head !== undefined && head.generation === req.generation && head.version > req.version;
      const record = newer && thetaText ? (JSON.parse(thetaText) as ThetaRecord) : undefined;
      const latest =
        record && record.generation === req.generation && record.version > req.version ? record : undefined;
      return { head, latest };
    } catch (e) {
      this.noteError(e as Error);
      return {};
    }
  }

  private async process(job: Job): Promise<string> {
    const request = job.data as EstimateRequest;
    const { head, latest } = await this.readHeadAndTheta(request);
    // Async: the estimate starts from the newest theta, not the one the request carried while it queued.
    const req: EstimateRequest = latest ? { ...request, version: latest.version, theta: latest.theta } : request;
    const base = {
      generation: req.generation,
      version: req.version,
      slot: req.slot,
      attempt: req.attempt,
      jobId: job.id!,
      workerId: this.workerId,
    };
    if (head && head.generation !== req.generation) {
      this.summary.skipped += 1;
      return 'skipped: earlier learner';
    }
    if (head && req.mode === 'sync' && head.version > req.version) {
      // A request of a finished step (given back after a lost lock): its answer is no longer needed.
      this.summary.skipped += 1;
      return 'skipped: finished step';
    }
    if (head && req.mode === 'async' && head.version - req.version > req.staleness) {
      this.summary.skipped += 1;
      const msg: EstimateResult = { ...base, kind: 'skipped', meanLoss: Number.NaN, metrics: {}, seconds: 0 };
      await this.results!.add('estimate', msg, { removeOnComplete: true, removeOnFail: true });
      return 'skipped: stale';
    }
    this.seen.add(req.generation);
    const t0 = Date.now();
    const theta = decodeTree(req.theta) as Theta;
    const ww: WorkerWeights<Theta> = { theta, thetaModelState: undefined, outerState: { outerIteration: req.version } };
    let encoded: unknown;
    let meanLoss: number;
    let metrics: Record<string, number>;
    try {
      if (!this.unrollStates) {
        const keys = random.split(this.initKey, this.opts.gradientEstimators.length);
        this.unrollStates = this.opts.gradientEstimators.map((e, i) => e.initWorkerState(ww, keys[i]!));
      }
      const key = Uint32Array.from(req.key) as PRNGKey;
      const out = gradientWorkerCompute(
        ww,
        this.opts.gradientEstimators,
        this.unrollStates,
        key,
        this.opts.computeOptions,
      );
      disposeExcept(this.unrollStates, out.unrollStates);
      this.unrollStates = out.unrollStates;
      encoded = encodeTree(out.toPut.thetaGrads);
      disposeExcept(out.toPut.thetaGrads, this.unrollStates);
      meanLoss = out.toPut.meanLoss;
      metrics = out.metrics;
    } finally {
      disposeExcept(theta, this.unrollStates);
    }
    const seconds = (Date.now() - t0) / 1000;
    const msg: EstimateResult = { ...base, kind: 'estimate', grads: encoded, meanLoss, metrics, seconds };
    await this.results!.add('estimate', msg, { removeOnComplete: true, removeOnFail: true });
    this.summary.estimates += 1;
    this.opts.onEstimate?.({ version: req.version, slot: req.slot, meanLoss, seconds });
    return 'sent';
  }
}
