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

/** Options of `metaTrain`. */
export interface MetaTrainOptions<Theta> {
  /** The learner to run. */
  learner: SingleMachineGradientLearner<Theta>;
  /** Seed of the run: `init` and every outer step's key derive from it. */
  seed: number;
  /** Train until this outer iteration. */
  numSteps: number;
  /** The run's configuration (plain data); its fingerprint guards resumes. */
  config: unknown;
  /** Checkpoint storage; with one, a run resumes from the stored checkpoint. */
  store?: CheckpointStore;
  /** Write a checkpoint every this many outer steps (default 10), and at the end. */
  checkpointEvery?: number;
  /** Receives one JSON line per outer step. */
  onMetricsLine?: (line: string) => void;
  /** Called after every outer step. */
  onStep?: (step: number, loss: number, metrics: Metrics) => void;
  /**
   * The position of data streams that keep their own (plain data), saved with each
   * checkpoint and restored on resume, so runs on such streams resume bit-identically.
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
}

/**
 * A meta-training loop with periodic checkpoints. Step `i` uses the key
 * `foldIn(PRNGKey(seed), i)`, so a run resumed from a checkpoint of step `i` continues
 * exactly as the uninterrupted run (bit-identical theta), given inner data drawn from
 * keys or data streams whose position `dataState` saves and restores.
 */
export function metaTrain<Theta>(opts: MetaTrainOptions<Theta>): MetaTrainResult<Theta> {
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
      const ckpt = deserializeCheckpoint<Theta>(text, { fingerprint, thetaTemplate: template });
      if (ckpt.key[0] !== runKey[0] || ckpt.key[1] !== runKey[1]) {
        disposeExcept(ckpt.state);
        throw new Error(`checkpoint: it was written with another seed (key [${Array.from(ckpt.key)}])`);
      }
      state = ckpt.state;
      step = ckpt.outerIteration;
      if (opts.dataState) {
        const saved = (ckpt.extra as { dataState?: unknown } | undefined)?.dataState;
        if (saved === undefined) throw new Error('checkpoint: it holds no data-stream state, but dataState was given');
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
        extra: opts.dataState ? { dataState: opts.dataState.get() } : undefined,
      }),
    );
  const losses: number[] = [];
  while (step < opts.numSteps) {
    const out = learner.update(state, random.foldIn(runKey, step));
    state = out.state;
    losses.push(out.loss);
    opts.onMetricsLine?.(metricsLine({ step, loss: out.loss, metrics: out.metrics, time: new Date().toISOString() }));
    opts.onStep?.(step, out.loss, out.metrics);
    step += 1;
    if (step % every === 0 || step === opts.numSteps) save();
  }
  return { state, losses, resumedFrom };
}
