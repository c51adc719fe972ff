import { randomBytes } from 'node:crypto';
import {
  type AggregatedGradient,
  assertSameTheta,
  type CheckpointStore,
  configFingerprint,
  decodeTree,
  deserializeCheckpoint,
  disposeExcept,
  type EncodedTree,
  encodeTree,
  type GradientLearner,
  type GradientLearnerState,
  type Metrics,
  metricsLine,
  serializeCheckpoint,
} from '@lopt/outer-trainers';
import { type PRNGKey, random } from '@lopt/pytree';
import { type Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type {
  DistributedMode,
  EstimateRequest,
  EstimateResult,
  LearnerHead,
  RunKeys,
  ThetaRecord,
} from './protocol.js';
import { runKeys } from './protocol.js';
import { describeRedis, type RedisConnection, redisOptions } from './redis-connection.js';

/** Options of `DistributedLearner`. */
export interface DistributedLearnerOptions<Theta> {
  /** The Redis server holding the run's queues. */
  connection: RedisConnection;
  /** The run's name: its queues and keys in Redis; workers join the run of the same name. */
  run: string;
  /** Holds theta and the outer optimizer (`GradientLearner` of `@lopt/outer-trainers`). */
  learner: GradientLearner<Theta>;
  /** Seed of the run: theta's initialisation, the update keys and the estimate keys derive from it. */
  seed: number;
  /** Train until this outer iteration. */
  numSteps: number;
  /** The run's configuration (plain data); its fingerprint guards resumes. */
  config: unknown;
  /** `sync` (default): each outer step applies N estimates of the current theta. `async`: any N within `staleness`. */
  mode?: DistributedMode;
  /** N: estimates averaged per outer step (default 1). */
  estimatesPerStep?: number;
  /** Async mode: estimates whose theta is more than this many versions old are dropped (default 1). */
  staleness?: number;
  /** Async mode: requests kept outstanding (default 2 N); each is estimated from the theta current when a worker takes it. */
  maxInFlight?: number;
  /** Checkpoint storage; with one, the learner resumes from the stored checkpoint. */
  store?: CheckpointStore;
  /** Write a checkpoint every this many outer steps (default 10), and at the end. */
  checkpointEvery?: number;
  /** Receives one JSON line per outer step. */
  onMetricsLine?: (line: string) => void;
  /** Called after every outer step. */
  onStep?: (step: number, loss: number, metrics: Metrics) => void;
  /** A request that failed this many times in a row (a worker error) stops the run with its reason (default 3). */
  maxJobFailures?: number;
  /** A request whose job vanished (Redis lost its data) is sent again after this long without a result (default 3000 ms). */
  missingGraceMs?: number;
  /** How often the learner checks its requests and republishes its state while waiting (default 1000 ms). */
  healIntervalMs?: number;
  /** How long the learner's claim on the run lasts without renewal (default 10000 ms). */
  learnerLockMs?: number;
}

/** Counters of the estimates the learner did not apply, over the whole run (also in every metrics line). */
export interface DistributedTotals {
  /** Estimates applied. */
  applied: number;
  /** Async estimates older than the staleness bound (received, or skipped by a worker before computing). */
  staleDropped: number;
  /** Estimates of an earlier learner incarnation or an earlier outer step. */
  lateDropped: number;
  /** Second results for a request already answered. */
  duplicatesDropped: number;
  /** Requests sent again because their job failed or vanished. */
  requeued: number;
}

/** What `DistributedLearner.run` returns. */
export interface DistributedRunResult<Theta> {
  /** The final learner state (the caller owns it; free it with `disposeExcept` or `close`). */
  state: GradientLearnerState<Theta>;
  /** Meta-losses of the outer steps run by this call. */
  losses: number[];
  /** The outer iteration the run resumed from (0 for a fresh run). */
  resumedFrom: number;
  /** Counters of dropped and applied estimates. */
  totals: DistributedTotals;
}

interface Pending {
  jobId: string;
  slot: number;
  version: number;
  attempt: number;
  missingSince?: number;
  failures: number;
}

interface Accepted {
  version: number;
  slot: number;
  workerId: string;
  grads: EncodedTree;
  meanLoss: number;
  metrics: Metrics;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** An error that stops the run (as opposed to a connection error, which is retried). */
class RunStopped extends Error {}

function checkCount(n: number, what: string, min: number): void {
  if (!Number.isInteger(n) || n < min)
    throw new Error(`DistributedLearner: ${what} must be an integer >= ${min}, got ${n}`);
}

/**
 * The central learner of distributed meta-training (after learned_optimization's
 * learner/worker split): it holds theta, the outer optimizer's state and the
 * checkpoint, sends estimate requests carrying theta and its version through a BullMQ
 * queue, and applies the estimates workers send back. In `sync` mode each outer step
 * averages N estimates of the current theta; in `async` mode it averages the first N
 * that are at most `staleness` versions old, and drops (and counts) older ones, and
 * publishes the current theta beside its head, from which workers start each estimate
 * (a request's own theta may have waited in the queue for several steps).
 * Results of an earlier learner incarnation, of an earlier step, or a second result for
 * one request are ignored by version. Failed or vanished requests are sent again, so a
 * killed worker or a restarted Redis server costs time, not the run.
 */
export class DistributedLearner<Theta = unknown> {
  /** The learner incarnation: requests carry it, and results of another one are ignored. */
  readonly generation: string = randomBytes(6).toString('hex');
  /** The current outer iteration (theta version). */
  outerIteration = 0;
  /** The outer iteration this learner started from. */
  resumedFrom = 0;
  /** Counters of applied and dropped estimates. */
  readonly totals: DistributedTotals = {
    applied: 0,
    staleDropped: 0,
    lateDropped: 0,
    duplicatesDropped: 0,
    requeued: 0,
  };

  private readonly keys: RunKeys;
  private readonly mode: DistributedMode;
  private readonly n: number;
  private readonly staleness: number;
  private readonly maxInFlight: number;
  private readonly every: number;
  private readonly fingerprint: string;
  private readonly runKey: PRNGKey;
  private readonly estimateKey: PRNGKey;
  private state?: GradientLearnerState<Theta>;
  private requests?: Queue;
  private results?: Worker;
  private redis?: Redis;
  private readonly token = `learner-${randomBytes(6).toString('hex')}`;
  private readonly pending = new Map<string, Pending>();
  private accepted: Accepted[] = [];
  private readonly answered = new Set<number>();
  private answeredFloor = 0;
  private nextSlot = 0;
  private encodedTheta?: { version: number; theta: EncodedTree };
  private lastHeal = 0;
  private lastError?: string;
  private started = false;

  constructor(readonly opts: DistributedLearnerOptions<Theta>) {
    this.keys = runKeys(opts.run);
    this.mode = opts.mode ?? 'sync';
    if (this.mode !== 'sync' && this.mode !== 'async')
      throw new Error(`DistributedLearner: mode must be 'sync' or 'async', got '${String(this.mode)}'`);
    this.n = opts.estimatesPerStep ?? 1;
    checkCount(this.n, 'estimatesPerStep', 1);
    this.staleness = this.mode === 'sync' ? 0 : (opts.staleness ?? 1);
    checkCount(this.staleness, 'staleness', 0);
    this.maxInFlight = opts.maxInFlight ?? 2 * this.n;
    checkCount(this.maxInFlight, 'maxInFlight', 1);
    this.every = opts.checkpointEvery ?? 10;
    checkCount(this.every, 'checkpointEvery', 1);
    checkCount(opts.numSteps, 'numSteps', 1);
    this.fingerprint = configFingerprint(opts.config);
    this.runKey = random.PRNGKey(opts.seed);
    this.estimateKey = random.split(this.runKey)[1]!;
  }

  /** Connects to Redis, claims the run, loads the checkpoint (or initialises theta) and publishes theta's version. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const connection = redisOptions(this.opts.connection);
    this.redis = new Redis(connection);
    this.redis.on('error', (e: Error) => this.noteError(e));
    this.requests = new Queue(this.keys.requests, { connection, prefix: this.keys.prefix });
    this.requests.on('error', (e: Error) => this.noteError(e));
    this.results = new Worker(this.keys.results, null, {
      connection,
      prefix: this.keys.prefix,
      autorun: false,
      drainDelay: 1,
    });
    this.results.on('error', (e: Error) => this.noteError(e));
    await this.claimRun();
    this.loadOrInit();
    // Requests of an earlier incarnation still waiting would only be computed and dropped.
    await this.requests.drain(true);
    await this.publishHead(false);
  }

  /** The current theta. */
  getMetaParams(): Theta {
    if (!this.state) throw new Error('DistributedLearner: call start() first');
    return this.opts.learner.getMetaParams(this.state);
  }

  /** The learner's current state (theta and the outer optimizer's state). */
  getState(): GradientLearnerState<Theta> {
    if (!this.state) throw new Error('DistributedLearner: call start() first');
    return this.state;
  }

  /** Runs outer steps until `numSteps`, checkpointing, then tells the workers the run is done. */
  async run(): Promise<DistributedRunResult<Theta>> {
    await this.start();
    const losses: number[] = [];
    while (this.outerIteration < this.opts.numSteps) {
      const { loss } = await this.outerStep();
      losses.push(loss);
    }
    await this.finish();
    return { state: this.state!, losses, resumedFrom: this.resumedFrom, totals: { ...this.totals } };
  }

  /** Writes the final checkpoint and marks the run done, so workers waiting on it stop. */
  async finish(): Promise<void> {
    this.checkpoint();
    await this.publishHead(true);
  }

  /** Writes a checkpoint of the current step now (to the `store`, when there is one). */
  checkpoint(): void {
    this.saveCheckpoint();
  }

  /**
   * One outer step: sends the requests it needs, gathers N usable estimates, applies
   * their mean with the outer optimizer and returns the mean meta-loss and metrics.
   */
  async outerStep(): Promise<{ loss: number; metrics: Metrics }> {
    await this.start();
    const start = Date.now();
    const dropsBefore = { ...this.totals };
    for (;;) {
      // Ready before asking for more: new requests should carry the next theta.
      const ready = this.takeReady();
      if (ready) return this.apply(ready, start, dropsBefore);
      await this.topUp();
      const msg = await this.nextResult();
      if (msg) this.receive(msg);
      if (Date.now() - this.lastHeal >= (this.opts.healIntervalMs ?? 1000)) await this.heal();
    }
  }

  /** Releases the run and closes the Redis connections; frees the learner state unless `keepState`. */
  async close(opts: { keepState?: boolean } = {}): Promise<void> {
    try {
      if (this.redis && this.redis.status === 'ready') {
        const holder = await this.redis.get(this.keys.learnerLock);
        if (holder === this.generation) await this.redis.del(this.keys.learnerLock);
      }
    } catch {
      // The claim expires by itself.
    }
    await Promise.allSettled([this.results?.close(), this.requests?.close()]);
    this.redis?.disconnect();
    if (!opts.keepState && this.state) disposeExcept(this.state);
  }

  private noteError(e: Error): void {
    // Connection errors are retried by the clients; the last one is kept for messages.
    this.lastError = e.message;
  }

  private async claimRun(): Promise<void> {
    const ms = this.opts.learnerLockMs ?? 10_000;
    const deadline = Date.now() + ms + 2000;
    for (;;) {
      const ok = await this.redis!.set(this.keys.learnerLock, this.generation, 'PX', ms, 'NX');
      if (ok === 'OK') return;
      if (Date.now() > deadline) {
        throw new Error(
          `another learner is running run '${this.opts.run}' on ${describeRedis(this.opts.connection)}; stop it or choose another run name`,
        );
      }
      await sleep(250);
    }
  }

  private loadOrInit(): void {
    const { learner, store } = this.opts;
    const text = store?.load();
    if (text === undefined) {
      this.state = learner.init(random.split(this.runKey)[0]!);
      return;
    }
    const fresh = learner.init(random.split(this.runKey)[0]!);
    try {
      const ckpt = deserializeCheckpoint<Theta>(text, {
        fingerprint: this.fingerprint,
        thetaTemplate: learner.getMetaParams(fresh),
      });
      if (ckpt.key[0] !== this.runKey[0] || ckpt.key[1] !== this.runKey[1]) {
        disposeExcept(ckpt.state);
        throw new Error(`checkpoint: it was written with another seed (key [${Array.from(ckpt.key)}])`);
      }
      this.state = ckpt.state.gradientLearnerState;
      disposeExcept(ckpt.state.gradientEstimatorStates);
      this.outerIteration = ckpt.outerIteration;
      this.resumedFrom = ckpt.outerIteration;
      const saved = (ckpt.extra as { totals?: DistributedTotals } | undefined)?.totals;
      if (saved) Object.assign(this.totals, saved);
    } finally {
      disposeExcept(fresh);
    }
  }

  private saveCheckpoint(): void {
    this.opts.store?.save(
      serializeCheckpoint({
        // Only the learner's part: the inner problems (unroll states) live on the workers.
        state: { gradientLearnerState: this.state!, gradientEstimatorStates: [] },
        outerIteration: this.outerIteration,
        key: this.runKey,
        fingerprint: this.fingerprint,
        extra: { mode: this.mode, totals: this.totals },
      }),
    );
  }

  private async publishHead(done: boolean): Promise<void> {
    const head: LearnerHead = {
      generation: this.generation,
      version: this.outerIteration,
      done,
      mode: this.mode,
      staleness: this.staleness,
    };
    if (this.mode === 'sync') {
      await this.redis!.set(this.keys.head, JSON.stringify(head));
      return;
    }
    // Async: theta beside the head in one command (atomic, and sent again whole after a
    // reconnection), so a worker that reads both sees them agree.
    const record: ThetaRecord = {
      generation: this.generation,
      version: this.outerIteration,
      theta: this.thetaPayload(),
    };
    await this.redis!.mset(this.keys.head, JSON.stringify(head), this.keys.theta, JSON.stringify(record));
  }

  private thetaPayload(): EncodedTree {
    if (this.encodedTheta?.version !== this.outerIteration) {
      this.encodedTheta = { version: this.outerIteration, theta: encodeTree(this.getMetaParams()) };
    }
    return this.encodedTheta.theta;
  }

  private async enqueue(slot: number, attempt: number, failures = 0): Promise<void> {
    await this.enqueueMany([{ slot, attempt, failures }]);
  }

  /**
   * Sends requests for `slots` of the current version in one round trip (`addBulk`):
   * in sync mode every worker waits for the step's requests, so each round trip spent
   * sending them one by one is time all of them stand idle.
   */
  private async enqueueMany(slots: { slot: number; attempt: number; failures: number }[]): Promise<void> {
    if (slots.length === 0) return;
    const version = this.outerIteration;
    const theta = this.thetaPayload();
    const jobs = slots.map(({ slot, attempt, failures }) => {
      const k = random.foldIn(random.foldIn(random.foldIn(this.estimateKey, version), slot), attempt);
      const req: EstimateRequest = {
        generation: this.generation,
        version,
        slot,
        attempt,
        mode: this.mode,
        staleness: this.staleness,
        theta,
        key: [k[0]!, k[1]!],
      };
      const jobId = `${this.generation}-${version}-${slot}-${attempt}`;
      this.pending.set(jobId, { jobId, slot, version, attempt, failures });
      return {
        name: 'estimate',
        data: req,
        opts: {
          jobId,
          // Kept a while after finishing: `heal` tells a finished request from a vanished one.
          removeOnComplete: { age: 600, count: 2000 },
          removeOnFail: { age: 3600, count: 2000 },
        },
      };
    });
    await this.requests!.addBulk(jobs);
  }

  /** Sends the requests still needed: N slots of this step (sync), or up to `maxInFlight` (async). */
  private async topUp(): Promise<void> {
    if (this.mode === 'sync') {
      const have = new Set(
        [...this.pending.values()].filter((p) => p.version === this.outerIteration).map((p) => p.slot),
      );
      for (const a of this.accepted) have.add(a.slot);
      const missing: { slot: number; attempt: number; failures: number }[] = [];
      for (let s = 0; s < this.n; s++) if (!have.has(s)) missing.push({ slot: s, attempt: 0, failures: 0 });
      await this.enqueueMany(missing);
      return;
    }
    const more: { slot: number; attempt: number; failures: number }[] = [];
    for (let i = this.pending.size; i < this.maxInFlight; i++)
      more.push({ slot: this.nextSlot++, attempt: 0, failures: 0 });
    await this.enqueueMany(more);
  }

  private async nextResult(): Promise<EstimateResult | undefined> {
    let job: Job | undefined;
    try {
      job = (await this.results!.getNextJob(this.token, { block: true })) as Job | undefined;
    } catch (e) {
      this.noteError(e as Error);
      await sleep(200);
      return undefined;
    }
    if (!job) return undefined;
    const msg = job.data as EstimateResult;
    try {
      await job.moveToCompleted(null, this.token, false);
    } catch {
      // Already taken care of (a lost lock after a reconnection): the result is handled here either way.
    }
    return msg;
  }

  private isAnswered(slot: number): boolean {
    return slot < this.answeredFloor || this.answered.has(slot);
  }

  private markAnswered(slot: number): void {
    this.answered.add(slot);
    // Bounded memory: slots far below the newest are treated as answered.
    const floor = this.nextSlot - 100 * this.maxInFlight;
    if (floor > this.answeredFloor) {
      for (const s of this.answered) if (s < floor) this.answered.delete(s);
      this.answeredFloor = floor;
    }
  }

  /** Sorts one result: applied later, or dropped (and counted) as late, stale or duplicate. */
  private receive(msg: EstimateResult): void {
    if (msg.generation !== this.generation) {
      this.totals.lateDropped += 1;
      return;
    }
    this.pending.delete(msg.jobId);
    if (this.mode === 'sync') {
      if (msg.version !== this.outerIteration) {
        this.totals.lateDropped += 1;
        return;
      }
      if (this.accepted.some((a) => a.slot === msg.slot)) {
        this.totals.duplicatesDropped += 1;
        return;
      }
      if (msg.kind === 'skipped') return; // sent again by topUp
      // Other attempts of this slot are no longer needed.
      for (const p of [...this.pending.values()])
        if (p.slot === msg.slot && p.version === msg.version) this.dropRequest(p);
    } else {
      if (this.isAnswered(msg.slot)) {
        this.totals.duplicatesDropped += 1;
        return;
      }
      this.markAnswered(msg.slot);
      if (msg.kind === 'skipped' || this.outerIteration - msg.version > this.staleness) {
        this.totals.staleDropped += 1;
        return;
      }
    }
    this.accepted.push({
      version: msg.version,
      slot: msg.slot,
      workerId: msg.workerId,
      grads: msg.grads!,
      meanLoss: msg.meanLoss,
      metrics: msg.metrics,
    });
  }

  private dropRequest(p: Pending): void {
    this.pending.delete(p.jobId);
    // Still waiting: take it back; already running: its result will be dropped.
    this.requests!.remove(p.jobId).catch(() => undefined);
  }

  private takeReady(): Accepted[] | undefined {
    if (this.accepted.length < this.n) return undefined;
    const batch = this.accepted.slice(0, this.n);
    this.accepted = this.accepted.slice(this.n);
    return batch;
  }

  private async apply(
    batch: Accepted[],
    start: number,
    before: DistributedTotals,
  ): Promise<{ loss: number; metrics: Metrics }> {
    const step = this.outerIteration;
    const theta = this.getMetaParams();
    const grads: AggregatedGradient<Theta>[] = [];
    try {
      for (const a of batch) {
        const g = decodeTree(a.grads) as Theta;
        grads.push({ thetaGrads: g, thetaModelState: undefined, meanLoss: a.meanLoss });
        assertSameTheta(theta, g, `the estimate of worker ${a.workerId}`);
      }
    } catch (e) {
      for (const g of grads) disposeExcept(g.thetaGrads);
      throw new Error(`${(e as Error).message}; is that worker set up for another learned optimizer?`);
    }
    const old = this.state!;
    let m: Metrics;
    try {
      const [next, metrics] = this.opts.learner.update(old, grads, { key: random.foldIn(this.runKey, step) });
      disposeExcept(old, next);
      this.state = next;
      m = metrics;
    } finally {
      for (const g of grads) disposeExcept(g.thetaGrads);
    }
    this.totals.applied += batch.length;
    this.outerIteration += 1;
    const staleness = batch.map((a) => step - a.version);
    const workerMetrics: Metrics = {};
    for (const a of batch) {
      for (const [k, v] of Object.entries(a.metrics)) workerMetrics[k] = (workerMetrics[k] ?? 0) + v / batch.length;
    }
    const metrics: Metrics = {
      ...workerMetrics,
      ...m,
      outerIteration: step,
      avgStaleness: staleness.reduce((x, y) => x + y, 0) / staleness.length,
      maxStaleness: Math.max(...staleness),
      uniqueWorkers: new Set(batch.map((a) => a.workerId)).size,
      staleDropped: this.totals.staleDropped - before.staleDropped,
      lateDropped: this.totals.lateDropped - before.lateDropped,
      duplicatesDropped: this.totals.duplicatesDropped - before.duplicatesDropped,
      requeued: this.totals.requeued - before.requeued,
      time: (Date.now() - start) / 1000,
    };
    const loss = m.meanLoss!;
    // Estimates that the new version made too old are dropped now (as the reference's learner does).
    if (this.mode === 'async') {
      const keep = this.accepted.filter((a) => this.outerIteration - a.version <= this.staleness);
      this.totals.staleDropped += this.accepted.length - keep.length;
      this.accepted = keep;
    } else {
      // Requests of the finished step still pending are no longer needed.
      for (const p of [...this.pending.values()]) if (p.version === step) this.dropRequest(p);
    }
    // The checkpoint first: a step reported done is a step saved (when it is a checkpoint step).
    if (this.outerIteration % this.every === 0 || this.outerIteration === this.opts.numSteps) this.saveCheckpoint();
    this.opts.onMetricsLine?.(metricsLine({ step, loss, metrics, time: new Date().toISOString() }));
    this.opts.onStep?.(step, loss, metrics);
    await this.publishHead(false);
    return { loss, metrics };
  }

  /**
   * Keeps the run going through faults: renews the learner's claim, republishes its head
   * (Redis may have lost it), and sends again requests whose job failed (a worker error,
   * or stalled too often after worker crashes) or vanished without a result.
   */
  private async heal(): Promise<void> {
    this.lastHeal = Date.now();
    try {
      const ms = this.opts.learnerLockMs ?? 10_000;
      const holder = await this.redis!.get(this.keys.learnerLock);
      if (holder === null) await this.redis!.set(this.keys.learnerLock, this.generation, 'PX', ms, 'NX');
      else if (holder === this.generation) await this.redis!.pexpire(this.keys.learnerLock, ms);
      else throw new RunStopped(`another learner (${holder}) took over run '${this.opts.run}'; this one stops`);
      await this.publishHead(false);
      const now = Date.now();
      const checked = [...this.pending.values()];
      // Asked all at once (ioredis pipelines them): the results wait on this loop, not on N round trips.
      const states = await Promise.all(checked.map((p) => this.requests!.getJobState(p.jobId)));
      for (const [i, p] of checked.entries()) {
        const state = states[i];
        if (state === 'failed') {
          const job = await this.requests!.getJob(p.jobId);
          const failures = p.failures + 1;
          if (failures >= (this.opts.maxJobFailures ?? 3)) {
            throw new RunStopped(
              `estimate request ${p.jobId} failed ${failures} times; last reason: ${job?.failedReason ?? 'unknown'}`,
            );
          }
          this.pending.delete(p.jobId);
          this.totals.requeued += 1;
          await this.resend(p, failures);
        } else if (state === 'unknown' || state === 'completed') {
          // Completed means its result is on its way; a long silence means Redis lost it.
          p.missingSince ??= now;
          if (now - p.missingSince >= (this.opts.missingGraceMs ?? 3000)) {
            this.pending.delete(p.jobId);
            this.totals.requeued += 1;
            await this.resend(p, p.failures);
          }
        } else {
          p.missingSince = undefined;
        }
      }
    } catch (e) {
      if (e instanceof RunStopped) throw e;
      this.noteError(e as Error);
    }
  }

  private async resend(p: Pending, failures: number): Promise<void> {
    if (this.mode === 'sync' && p.version !== this.outerIteration) return;
    if (this.mode === 'async') {
      // A fresh request at the current version replaces it.
      this.markAnswered(p.slot);
      await this.enqueue(this.nextSlot++, 0, failures);
      return;
    }
    await this.enqueue(p.slot, p.attempt + 1, failures);
  }

  /** The last connection error seen (connections are retried; this is for messages). */
  get lastConnectionError(): string | undefined {
    return this.lastError;
  }
}
