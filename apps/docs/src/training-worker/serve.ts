/// <reference lib="webworker" />
// The worker side of a training demo: one run at a time, a stop request honoured between
// steps, and any failure posted to the page as an `error` message.

import type { CommonFromWorker } from './protocol';

/** What a run reads to stop early and to let messages in. */
export interface TrainingControl {
  /** True once the page asked to stop. */
  shouldStop: () => boolean;
  /** A macrotask turn, so that a Stop message can arrive between steps. */
  yieldControl: () => Promise<void>;
}

/**
 * Answers the page's messages with `run`: `start` runs it (a second start while one runs is
 * ignored), `stop` makes `control.shouldStop()` true, and a thrown error is posted.
 */
export function serveTraining<Start extends { type: 'start' }, From>(
  run: (msg: Start, post: (msg: From | CommonFromWorker) => void, control: TrainingControl) => Promise<void>,
): void {
  const scope = self as unknown as DedicatedWorkerGlobalScope;
  const post = (msg: From | CommonFromWorker) => scope.postMessage(msg);
  let stopRequested = false;
  let running = false;
  const control: TrainingControl = {
    shouldStop: () => stopRequested,
    yieldControl: () => new Promise<void>((resolve) => setTimeout(resolve, 0)),
  };
  scope.onmessage = async (event: MessageEvent<Start | { type: 'stop' }>) => {
    const msg = event.data;
    if (msg.type === 'stop') {
      stopRequested = true;
      return;
    }
    if (running) return;
    running = true;
    stopRequested = false;
    try {
      await run(msg as Start, post, control);
    } catch (e) {
      post({ type: 'error', message: e instanceof Error ? e.message : String(e) });
    } finally {
      running = false;
    }
  };
}
