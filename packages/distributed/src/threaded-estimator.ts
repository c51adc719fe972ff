import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import {
  disposeExcept,
  GradientEstimator,
  type GradientEstimatorOut,
  type Metrics,
  type TruncatedStep,
  type UnrollInfo,
  type WorkerWeights,
} from '@lopt/outer-trainers';
import { fastPathsEnabled, type PRNGKey, random, tidy, treeMap } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { type EstimatorModuleSpec, loadEstimator, moduleUrl } from './estimator-module.js';
import type { ThreadReply, ThreadRequest } from './thread-protocol.js';
import { packTree, unpackTree } from './thread-tree.js';

/** Options of `ThreadedGradientEstimator.create`. */
export interface ThreadedGradientEstimatorOptions {
  /** Where every shard's estimator comes from (each thread builds its own). */
  estimator: EstimatorModuleSpec;
  /** How many shards an estimate is split into (each its own inner problems). */
  shards: number;
  /**
   * Shard 0 computes on the calling thread while the others run in worker threads
   * (default true): `shards - 1` threads. With false, every shard gets a thread (the
   * caller still builds shard 0's estimator, for its `truncatedStep` and names).
   */
  localShard?: boolean;
  /** The tfjs backend of the threads (default: the caller's current backend). */
  backend?: string;
  /** Longest wait for a thread's answer, in ms (default 600000): a stuck thread becomes an error, never a hang. */
  timeoutMs?: number;
  /** Longest wait for the threads to build their estimators, in ms (default 300000). */
  startTimeoutMs?: number;
}

/** The state of a `ThreadedGradientEstimator`: each shard's estimator state, as data (tensors) the caller owns. */
export type ThreadedEstimatorState = unknown[];

interface Thread {
  worker: Worker;
  port: MessagePort;
  flags: Int32Array;
  shard: number;
  failed?: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const isTs = (url: string) => /\.[mc]?ts$/.test(url.split('?')[0]!);

// The thread's bootstrap: registers tsx first when a module to load is TypeScript (Node's
// module hooks are not inherited by worker threads), then imports the thread's body.
const BOOT = `
const { workerData } = require('node:worker_threads');
(async () => {
  if (workerData.tsx) (await import(workerData.tsx)).register();
  await import(workerData.entry);
})().catch((e) => { setTimeout(() => { throw e; }); });
`;

function threadEntry(): string {
  // Beside this module: the source's .ts under tsx/vitest, the build's .js otherwise.
  const here = import.meta.url;
  return new URL(isTs(here) ? './estimator-thread.ts' : './estimator-thread.js', here).href;
}

function tsxApi(): string {
  try {
    // The ESM entry of tsx's API (`require.resolve` gives its CommonJS twin, whose
    // `register` cannot load the ESM hooks); the import.meta.resolve of Node >= 20.6 when
    // this module runs natively, else the twin beside the CommonJS one.
    const resolve = (import.meta as { resolve?: (s: string) => string }).resolve;
    if (resolve) return resolve('tsx/esm/api');
    return pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href.replace(/\.cjs$/, '.mjs');
  } catch {
    throw new Error(
      'ThreadedGradientEstimator: loading a TypeScript module in a worker thread needs the tsx package installed',
    );
  }
}

function meanOf(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

function mergeUnrollInfo(infos: (UnrollInfo | undefined)[]): UnrollInfo | undefined {
  if (infos.some((i) => !i)) return undefined;
  const all = infos as UnrollInfo[];
  const steps = all[0]!.loss.length;
  const cat = <K extends keyof UnrollInfo>(k: K) =>
    Array.from({ length: steps }, (_, s) => all.flatMap((i) => i[k][s] as never)) as UnrollInfo[K];
  return { loss: cat('loss'), iteration: cat('iteration'), taskParam: cat('taskParam'), isDone: cat('isDone') };
}

/**
 * A gradient estimator whose inner problems are split into shards computed side by side
 * in Node worker threads (`worker_threads`), for the cores one thread leaves idle.
 * Each shard is an estimator built from the same `EstimatorModuleSpec` (each thread
 * imports the module and calls its factory), given its own key split off the
 * estimate's key; the estimate is the mean of the shards' gradients and losses, which
 * for equal shards is the estimate over all their problems.
 *
 * It is an ordinary synchronous `GradientEstimator`: `computeGradientEstimate` posts
 * each thread its request, computes shard 0 itself (unless `localShard: false`), then
 * blocks on the threads' answers (`Atomics.wait`, bounded by `timeoutMs`). So
 * `SingleMachineGradientLearner` and the trainers use it unchanged. Its state is data:
 * every shard's estimator state as tensors owned by the caller (sent to the shard's
 * thread and back on every estimate), so checkpoints and exact resumes work as with an
 * in-process estimator. A thread's error, or its end, becomes an error of the call
 * naming the shard. `dispose()` ends the threads. Node only.
 */
export class ThreadedGradientEstimator<Theta = unknown> extends GradientEstimator<Theta, ThreadedEstimatorState> {
  /** The number of shards. */
  readonly numShards: number;
  private nextId = 1;
  private disposed = false;

  private constructor(
    private readonly local: GradientEstimator<Theta>,
    private readonly threads: Thread[],
    private readonly localShard: boolean,
    private readonly timeoutMs: number,
  ) {
    super();
    this.numShards = threads.length + (localShard ? 1 : 0);
  }

  /** Builds shard 0 here and starts a worker thread per other shard; resolves once every thread has built its estimator. */
  static async create<Theta = unknown>(
    opts: ThreadedGradientEstimatorOptions,
  ): Promise<ThreadedGradientEstimator<Theta>> {
    const { shards } = opts;
    if (!Number.isInteger(shards) || shards < 1) {
      throw new Error(`ThreadedGradientEstimator: shards must be an integer >= 1, got ${shards}`);
    }
    const localShard = opts.localShard ?? true;
    const timeoutMs = opts.timeoutMs ?? 600_000;
    if (!(timeoutMs > 0)) throw new Error(`ThreadedGradientEstimator: timeoutMs must be > 0, got ${timeoutMs}`);
    const local = await loadEstimator<Theta>(opts.estimator, { shard: 0, numShards: shards });
    const entry = threadEntry();
    const tsx = isTs(entry) || isTs(moduleUrl(opts.estimator)) ? tsxApi() : undefined;
    const threads: Thread[] = [];
    const first = localShard ? 1 : 0;
    try {
      for (let shard = first; shard < shards; shard++) {
        const signal = new SharedArrayBuffer(8);
        const channel = new MessageChannel();
        const worker = new Worker(BOOT, {
          eval: true,
          workerData: {
            entry,
            tsx,
            spec: opts.estimator,
            shard,
            numShards: shards,
            backend: opts.backend ?? tf.getBackend(),
            fastPaths: fastPathsEnabled(),
            signal,
            port: channel.port2,
          },
          transferList: [channel.port2],
          // Under the sources (tests, tsx), the thread resolves `@lopt/*` to their sources too.
          execArgv: isTs(entry) ? [...process.execArgv, '--conditions=@lopt/source'] : undefined,
        });
        // Threads must not keep the process alive; `dispose()` ends them.
        worker.unref();
        threads.push({ worker, port: channel.port1, flags: new Int32Array(signal), shard });
      }
      const startTimeoutMs = opts.startTimeoutMs ?? 300_000;
      await Promise.all(threads.map((t) => ThreadedGradientEstimator.ready(t, startTimeoutMs)));
    } catch (e) {
      await Promise.allSettled(threads.map((t) => t.worker.terminate()));
      throw e;
    }
    return new ThreadedGradientEstimator<Theta>(local, threads, localShard, timeoutMs);
  }

  private static async ready(t: Thread, timeoutMs: number): Promise<void> {
    let exited: number | undefined;
    let error: Error | undefined;
    t.worker.once('exit', (code) => {
      exited = code;
    });
    t.worker.once('error', (e) => {
      error = e;
    });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = receiveMessageOnPort(t.port)?.message as ThreadReply | undefined;
      if (m) {
        if (!m.ok)
          throw new Error(`ThreadedGradientEstimator: shard ${t.shard} could not build its estimator: ${m.error}`);
        return;
      }
      if (error)
        throw new Error(
          `ThreadedGradientEstimator: shard ${t.shard}'s thread failed to start: ${error.stack ?? error}`,
        );
      if (exited !== undefined)
        throw new Error(`ThreadedGradientEstimator: shard ${t.shard}'s thread exited (code ${exited}) while starting`);
      if (Date.now() > deadline)
        throw new Error(`ThreadedGradientEstimator: shard ${t.shard}'s thread did not start within ${timeoutMs} ms`);
      await sleep(5);
    }
  }

  /** Shard 0's truncated step (every shard's is built by the same factory). */
  get truncatedStep(): TruncatedStep<Theta> {
    return this.local.truncatedStep;
  }

  /** The name of the shards' estimator, e.g. `TruncatedPES`. */
  override get name(): string {
    return this.local.name;
  }

  /** Every shard's first state (one key split per shard). */
  initWorkerState(workerWeights: WorkerWeights<Theta>, key: PRNGKey): ThreadedEstimatorState {
    const keys = random.split(key, this.numShards);
    const packedTheta = this.packTheta(workerWeights.theta);
    const ids = this.threads.map((t, i) =>
      this.post(t, {
        kind: 'init',
        ...packedTheta(),
        outerState: workerWeights.outerState,
        key: Array.from(keys[this.threadShard(i)]!),
      }),
    );
    const states: unknown[] = new Array(this.numShards);
    try {
      if (this.localShard) states[0] = this.local.initWorkerState(workerWeights, keys[0]!);
      this.threads.forEach((t, i) => {
        const m = this.wait(t, ids[i]!);
        states[t.shard] = unpackTree(m.state);
      });
    } catch (e) {
      disposeExcept(states);
      throw e;
    }
    return states;
  }

  /**
   * One estimate: each shard from its state with its own key (split off `key`), the
   * threads' shards side by side with shard 0 here. Returns the mean gradient and loss,
   * every shard's next state, the shards' metrics averaged, and the unroll infos joined
   * along the problems. Where the time went: `localShardSeconds` (shard 0 here),
   * `threadComputeSeconds` (the threads' own estimates, their mean), `threadWaitSeconds`
   * (waiting for the threads after shard 0, and reading their answers).
   */
  computeGradientEstimate(
    workerWeights: WorkerWeights<Theta>,
    key: PRNGKey,
    state: ThreadedEstimatorState,
    opts: { withSummary?: boolean } = {},
  ): [GradientEstimatorOut<Theta, ThreadedEstimatorState>, Metrics] {
    if (!Array.isArray(state) || state.length !== this.numShards) {
      throw new Error(
        `ThreadedGradientEstimator: the state must hold one state per shard (${this.numShards}), got ${Array.isArray(state) ? state.length : typeof state}`,
      );
    }
    const keys = random.split(key, this.numShards);
    const packedTheta = this.packTheta(workerWeights.theta);
    const ids = this.threads.map((t, i) => {
      const transfer: ArrayBuffer[] = [];
      const packedState = packTree(state[t.shard], transfer);
      return this.post(
        t,
        {
          kind: 'estimate',
          ...packedTheta(),
          outerState: workerWeights.outerState,
          key: Array.from(keys[this.threadShard(i)]!),
          state: packedState,
          withSummary: opts.withSummary,
        },
        transfer,
      );
    });
    const outs: GradientEstimatorOut<Theta>[] = new Array(this.numShards);
    const metricsList: Metrics[] = [];
    let waitSeconds = 0;
    let localSeconds = 0;
    const threadSeconds: number[] = [];
    try {
      if (this.localShard) {
        const start = performance.now();
        const [out, m] = this.local.computeGradientEstimate(workerWeights, keys[0]!, state[0], opts);
        localSeconds = (performance.now() - start) / 1000;
        outs[0] = out;
        metricsList.push(m);
      }
      const waitStart = performance.now();
      this.threads.forEach((t, i) => {
        const m = this.wait(t, ids[i]!);
        outs[t.shard] = {
          meanLoss: m.meanLoss!,
          grad: unpackTree(m.grad) as Theta,
          unrollState: unpackTree(m.state),
          unrollInfo: m.unrollInfo,
        };
        metricsList.push(m.metrics ?? {});
        threadSeconds.push(m.computeSeconds ?? 0);
      });
      waitSeconds = (performance.now() - waitStart) / 1000;
    } catch (e) {
      disposeExcept(outs.map((o) => [o?.grad, o?.unrollState]));
      throw e;
    }
    const grad = tidy(() =>
      this.numShards === 1
        ? treeMap((g) => tf.clone(g), outs[0]!.grad)
        : treeMap(
            (...gs: tf.Tensor[]) => tf.div(tf.addN(gs), gs.length),
            outs[0]!.grad,
            ...outs.slice(1).map((o) => o.grad),
          ),
    ) as Theta;
    disposeExcept(outs.map((o) => o.grad));
    const metrics: Metrics = {};
    for (const name of new Set(metricsList.flatMap((m) => Object.keys(m)))) {
      const vs = metricsList.map((m) => m[name]).filter((v): v is number => typeof v === 'number');
      metrics[name] = meanOf(vs);
    }
    metrics.localShardSeconds = localSeconds;
    if (threadSeconds.length > 0) metrics.threadComputeSeconds = meanOf(threadSeconds);
    metrics.threadWaitSeconds = waitSeconds;
    return [
      {
        meanLoss: meanOf(outs.map((o) => o.meanLoss)),
        grad,
        unrollState: outs.map((o) => o.unrollState),
        unrollInfo: mergeUnrollInfo(outs.map((o) => o.unrollInfo)),
      },
      metrics,
    ];
  }

  /** Ends the worker threads; the estimator cannot be used afterwards. */
  async dispose(): Promise<void> {
    this.disposed = true;
    await Promise.allSettled(this.threads.map((t) => t.worker.terminate()));
    for (const t of this.threads) t.port.close();
  }

  /** The worker threads' ids (for tests and diagnostics). */
  get threadIds(): number[] {
    return this.threads.map((t) => t.worker.threadId);
  }

  private threadShard(i: number): number {
    return this.threads[i]!.shard;
  }

  /** Theta packed once, its values copied for each thread (a transfer detaches the buffers it sends). */
  private packTheta(theta: Theta): () => { theta: unknown } {
    const packed = packTree(theta, []);
    return () => ({ theta: structuredClone(packed) });
  }

  private post(t: Thread, req: Omit<ThreadRequest, 'id'>, transfer: ArrayBuffer[] = []): number {
    if (this.disposed) throw new Error('ThreadedGradientEstimator: used after dispose()');
    if (t.failed) throw new Error(`ThreadedGradientEstimator: shard ${t.shard}'s thread failed earlier: ${t.failed}`);
    const id = this.nextId++;
    t.worker.postMessage({ ...req, id } as ThreadRequest, transfer);
    return id;
  }

  /** Blocks until thread `t` answers request `id`; its error, its end or the timeout throw. */
  private wait(t: Thread, id: number): Extract<ThreadReply, { ok: true }> {
    const deadline = Date.now() + this.timeoutMs;
    const fail = (why: string): never => {
      t.failed = why;
      throw new Error(`ThreadedGradientEstimator: shard ${t.shard}: ${why}`);
    };
    for (;;) {
      const seen = Atomics.load(t.flags, 0);
      const m = receiveMessageOnPort(t.port)?.message as ThreadReply | undefined;
      if (m) {
        if (!m.ok) fail(`its thread threw: ${m.error}`);
        else if (m.id === id) return m;
        continue;
      }
      if (Atomics.load(t.flags, 1) !== 0) fail('its thread exited');
      const left = deadline - Date.now();
      if (left <= 0) fail(`no answer within ${this.timeoutMs} ms`);
      Atomics.wait(t.flags, 0, seen, Math.min(left, 1000));
    }
  }
}
