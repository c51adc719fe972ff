// The page state every training demo shares: a run's lifecycle, its loss series and the
// numbers drawn from them, and the worker it talks to. Each demo adds its own controls
// and messages on top.

import { withBase } from 'vitepress';
import { type ComputedRef, computed, onBeforeUnmount, type Ref, ref, type ShallowRef, shallowRef } from 'vue';
import { connectTrainingWorker, siteAssetUrls } from '../../../src/training-worker/connect';
import type { CommonFromWorker, ToTrainingWorker } from '../../../src/training-worker/protocol';

/** Where a demo's run is. */
export type RunState = 'idle' | 'loading' | 'running' | 'done' | 'stopped' | 'error';

/** The messages of a demo's worker that the shared state reads. */
export type RunMessage =
  | CommonFromWorker
  | { type: 'step'; step: { loss: number } }
  | { type: 'done'; stopped: boolean };

/** The fields of a demo's start message that the demo gives (the asset URLs are added). */
export type StartFields<To> = Omit<Extract<To, { type: 'start' }>, 'type' | 'wasmBase' | 'dataBase'>;

/** How a demo uses `useTrainingRun`. */
export interface TrainingRunOptions<From> {
  /** Steps averaged for the "start" and "now" losses and the smooth curve. */
  window: number;
  /** The status line before the first run. */
  idleStatus: string;
  /** Makes the demo's worker (its module loads on the first Start). */
  createWorker: () => Promise<Worker>;
  /** The demo, in the console warning of a failed worker. */
  name: string;
  /** What a finished run did, for the status line ("300 iterations"). */
  ranFor: (msg: Extract<From, { type: 'done' }>) => string;
  /** The demo's own handling of each message, before the shared one. */
  onMessage?: (msg: From) => void;
  /** Called on each animation frame that redraws. */
  onFrame?: () => void;
}

/** The shared state of a training demo. */
export interface TrainingRun<To> {
  state: Ref<RunState>;
  status: Ref<string>;
  backendUsed: Ref<string>;
  /** The loss of every step so far (grown in place: read `version` to follow it). */
  losses: ShallowRef<number[]>;
  /** The mean of the last `window` losses, per step. */
  smoothLosses: ShallowRef<number[]>;
  /** Bumped once per frame while steps arrive. */
  version: Ref<number>;
  running: ComputedRef<boolean>;
  /** Steps done so far. */
  steps: ComputedRef<number>;
  /** Mean loss of the first `window` steps. */
  lossStart: ComputedRef<number>;
  /** Mean loss of the last `window` steps. */
  lossNow: ComputedRef<number>;
  /** A computed value that follows the series as they grow. */
  follow: <T>(read: () => T) => ComputedRef<T>;
  /** Redraws on the next animation frame. */
  schedule: () => void;
  /** Starts a run (unless one runs): clears the series, calls `reset`, then sends `fields`. */
  start: (fields: StartFields<To>, reset?: () => void) => Promise<void>;
  /** Asks the run to stop, saying so with `text`. */
  stop: (text: string) => void;
}

/** The mean of `xs` (NaN when empty). */
export const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);

/** The state, worker and lifecycle of a demo whose worker trains and posts each step's loss. */
export function useTrainingRun<To extends ToTrainingWorker<unknown, object>, From extends RunMessage>(
  o: TrainingRunOptions<From>,
): TrainingRun<To> {
  const state = ref<RunState>('idle');
  const status = ref(o.idleStatus);
  const backendUsed = ref('');
  const losses = shallowRef<number[]>([]);
  const smoothLosses = shallowRef<number[]>([]);
  const version = ref(0);
  let frame = 0;

  // The series grow in place; reading `version` makes each number follow them.
  const follow = <T>(read: () => T) =>
    computed(() => {
      void version.value;
      return read();
    });
  const steps = follow(() => losses.value.length);
  const running = computed(() => state.value === 'loading' || state.value === 'running');
  const lossStart = follow(() => mean(losses.value.slice(0, o.window)));
  const lossNow = follow(() => mean(losses.value.slice(-o.window)));

  function schedule() {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      o.onFrame?.();
      version.value++;
    });
  }

  const fail = (message: string) => {
    state.value = 'error';
    status.value = `Error: ${message}`;
  };

  function onMessage(msg: From) {
    o.onMessage?.(msg);
    const m = msg as RunMessage;
    switch (m.type) {
      case 'backend':
        backendUsed.value = m.name;
        state.value = 'running';
        break;
      case 'status':
        status.value = m.text;
        break;
      case 'step':
        losses.value.push(m.step.loss);
        smoothLosses.value.push(mean(losses.value.slice(-o.window)));
        schedule();
        break;
      case 'done':
        state.value = m.stopped ? 'stopped' : 'done';
        status.value = `${m.stopped ? 'Stopped' : 'Done'} after ${o.ranFor(msg as Extract<From, { type: 'done' }>)} on the ${backendUsed.value} backend.`;
        schedule();
        break;
      case 'error':
        fail(m.message);
        console.warn(`${o.name} worker failed:`, m.message);
        break;
    }
  }

  const worker = connectTrainingWorker<To, From>(o.createWorker, onMessage, fail);

  async function start(fields: StartFields<To>, reset?: () => void) {
    if (running.value) return;
    losses.value = [];
    smoothLosses.value = [];
    reset?.();
    version.value++;
    state.value = 'loading';
    status.value = 'Starting the backend...';
    await worker.send({ type: 'start', ...fields, ...siteAssetUrls(withBase) } as unknown as To);
  }

  function stop(text: string) {
    worker.stop();
    status.value = text;
  }

  onBeforeUnmount(() => {
    worker.terminate();
    if (frame) cancelAnimationFrame(frame);
  });

  return {
    state,
    status,
    backendUsed,
    losses,
    smoothLosses,
    version,
    running,
    steps,
    lossStart,
    lossNow,
    follow,
    schedule,
    start,
    stop,
  };
}
