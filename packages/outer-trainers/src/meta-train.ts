import { type PRNGKey, random } from '@lopt/pytree';
import { configFingerprint, deserializeCheckpoint, serializeCheckpoint } from './checkpoint.js';
import type { Metrics } from './gradient-estimator.js';
import type { SingleMachineGradientLearner, SingleMachineState } from './gradient-learner.js';
import { metricsLine } from './metrics.js';
import { checkPositiveInt, disposeExcept } from './tree-utils.js';

/** Where checkpoints go: synchronous load/save of the checkpoint text. */
export interface CheckpointStore {
  /** The last checkpoint written, or `undefined` when there is none. */
  load(): string | undefined;
  /** Replaces the checkpoint (atomically: a reader sees the old or the new one, whole). */
  save(text: string): void;
}

/** What `metaTrain` passes to `onStart` before its first outer step. */
export interface MetaTrainStart {
  /** The outer iteration the run starts at: 0 for a fresh run, the checkpoint's on resume. */
  resumedFrom: number;
  /** Whether the state came from the store's checkpoint. */
  resumed: boolean;
}

/** Options of `metaTrain`. */
export interface MetaTrainOptions<Theta> {
  /** The learner to run. */
  learner: SingleMachineGradientLearner<Theta>;
  /** Seed of the run: `init` and every outer step's key derive from it. */
  seed: number;
  /** Train until this outer iteration. */
  numSteps: number;
  /**
   * The run's configuration (plain data). Its fingerprint guards resumes, and it is stored
   * in every checkpoint so that a refused resume names the settings that differ.
   */
  config: unknown;
  /** Checkpoint storage; with one, a run resumes from the stored checkpoint. */
  store?: CheckpointStore;
  /** Write a checkpoint every this many outer steps (default 10), at the end, and when stopped. */
  checkpointEvery?: number;
  /** Called once the state is ready (restored or fresh), before the first outer step. */
  onStart?: (start: MetaTrainStart) => void | Promise<void>;
  /** Receives one JSON line per outer step. */
  onMetricsLine?: (line: string) => void;
  /**
   * Called after every outer step with the state after it (owned by the loop: read it,
   * do not dispose it). A returned promise is awaited before the next step, so a caller
   * can yield to its event loop (progress bars, signals) or write files asynchronously.
   */
  onStep?: (step: number, loss: number, metrics: Metrics, state: SingleMachineState<Theta>) => void | Promise<void>;
  /**
   * Stops the loop: checked before every outer step. When it is aborted the current step
   * finishes, a checkpoint is written, and `metaTrain` returns with `stopped: true`.
   */
  signal?: AbortSignal;
  /**
   * The position of data streams that keep their own (plain data), saved with each
   * checkpoint and restored on resume, so runs on such streams resume bit-identically
   * (for a task's datasets: `datasetsState(task.datasets)` from `@lopt/datasets`).
   */
  dataState?: { get(): unknown; set(state: unknown): void };
}

/** What `metaTrain` returns. */
export interface MetaTrainResult<Theta> {
  /** The final state (the caller owns it). */
  state: SingleMachineState<Theta>;
  /** Meta-losses of the outer steps run by this call. */
  losses: number[];
  /** The outer iteration the run resumed from (0 for a fresh run). */
  resumedFrom: number;
  /** The outer iteration the state is at (`numSteps` unless stopped early). */
  step: number;
  /** Whether `signal` stopped the run before `numSteps`. */
  stopped: boolean;
}

/**
 * A meta-training loop with periodic checkpoints. Step `i` uses the key
 * `foldIn(PRNGKey(seed), i)`, so a run resumed from a checkpoint of step `i` continues
 * exactly as the uninterrupted run (bit-identical theta), given inner data drawn from
 * keys or data streams whose position `dataState` saves and restores. A failing outer
 * step throws an error naming the step; the state of the steps before it is in the last
 * checkpoint.
 */
export async function metaTrain<Theta>(opts: MetaTrainOptions<Theta>): Promise<MetaTrainResult<Theta>> {
  const { learner, store } = opts;
  checkPositiveInt(opts.numSteps, 'metaTrain: numSteps');
  const every = opts.checkpointEvery ?? 10;
  checkPositiveInt(every, 'metaTrain: checkpointEvery');
  const fingerprint = configFingerprint(opts.config);
  const runKey: PRNGKey = random.PRNGKey(opts.seed);
  let state: SingleMachineState<Theta>;
  let step = 0;
  const text = store?.load();
  if (text !== undefined) {
    // Only theta's structure is needed to check the checkpoint: no inner problems are built.
    const fresh = learner.gradientLearner.init(random.split(runKey)[0]!);
    const template = learner.gradientLearner.getMetaParams(fresh);
    try {
      const ckpt = deserializeCheckpoint<Theta>(text, { fingerprint, thetaTemplate: template, config: opts.config });
      if (ckpt.key[0] !== runKey[0] || ckpt.key[1] !== runKey[1]) {
        disposeExcept(ckpt.state);
        throw new Error(`checkpoint: it was written with another seed (key [${Array.from(ckpt.key)}])`);
      }
      state = ckpt.state;
      step = ckpt.outerIteration;
      if (opts.dataState) {
        const saved = (ckpt.extra as { dataState?: unknown } | undefined)?.dataState;
        if (saved === undefined) {
          disposeExcept(state);
          throw new Error('checkpoint: it holds no data-stream state, but dataState was given');
        }
        opts.dataState.set(saved);
      }
    } finally {
      disposeExcept(fresh);
    }
  } else {
    state = learner.init(random.split(runKey)[0]!);
  }
  const resumedFrom = step;
  const save = () =>
    store?.save(
      serializeCheckpoint({
        state,
        outerIteration: step,
        key: runKey,
        fingerprint,
        extra: { config: opts.config, ...(opts.dataState ? { dataState: opts.dataState.get() } : {}) },
      }),
    );
  const losses: number[] = [];
  let stopped = false;
  try {
    await opts.onStart?.({ resumedFrom, resumed: text !== undefined });
    while (step < opts.numSteps) {
      if (opts.signal?.aborted) {
        stopped = true;
        break;
      }
      let out: ReturnType<typeof learner.update>;
      try {
        out = learner.update(state, random.foldIn(runKey, step));
      } catch (e) {
        throw new Error(`metaTrain: outer step ${step} failed: ${(e as Error).message ?? String(e)}`, { cause: e });
      }
      state = out.state;
      losses.push(out.loss);
      opts.onMetricsLine?.(metricsLine({ step, loss: out.loss, metrics: out.metrics, time: new Date().toISOString() }));
      step += 1;
      await opts.onStep?.(step - 1, out.loss, out.metrics, state);
      if (step % every === 0 || step === opts.numSteps) save();
    }
    if (stopped) save();
  } catch (e) {
    disposeExcept(state);
    throw e;
  }
  return { state, losses, resumedFrom, step, stopped };
}
