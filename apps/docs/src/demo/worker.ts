/// <reference lib="webworker" />
/**
 * The demo's Web Worker: training runs here so the page stays responsive. It loads the
 * backend, fetches Fashion-MNIST from the site, and posts every step to the page.
 */

import { setupBackend } from '@lopt/pytree';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { serveTraining } from '../training-worker/serve';
import type { FromWorker, ToWorker } from './protocol';
import { runDemo } from './training';

async function pickBackend(
  wanted: 'wasm' | 'webgl' | 'auto',
  wasmBase: string,
  post: (msg: FromWorker) => void,
): Promise<string> {
  setWasmPaths(wasmBase);
  if (wanted !== 'wasm') {
    post({
      type: 'status',
      text: 'Starting WebGL: the first steps compile its shader programs, which takes several seconds before the counter moves.',
    });
    try {
      await import('@tensorflow/tfjs-backend-webgl');
      if (await tf.setBackend('webgl')) {
        await tf.ready();
        return 'webgl';
      }
    } catch {
      // No WebGL in this worker (no OffscreenCanvas or no GPU): fall back to wasm.
    }
    if (wanted === 'webgl') post({ type: 'status', text: 'WebGL is not available here; using wasm.' });
  }
  return setupBackend('wasm');
}

serveTraining<Extract<ToWorker, { type: 'start' }>, FromWorker>(async (msg, post, { shouldStop, yieldControl }) => {
  const backend = await pickBackend(msg.backend, msg.wasmBase, post);
  post({ type: 'backend', name: backend });
  // The site lists its data files' sizes, so one bar can show the whole download.
  let totalBytes: number | undefined;
  if (msg.config.task === 'fashionMnist8') {
    const sizes = await fetch(`${msg.dataBase}sizes.json`)
      .then((r) => (r.ok ? (r.json() as Promise<Record<string, number>>) : undefined))
      .catch(() => undefined);
    totalBytes = sizes ? Object.values(sizes).reduce((a, b) => a + b, 0) : undefined;
  }
  const received = new Map<string, number>();
  const steps = await runDemo(msg.config, {
    // The site serves a cut of Fashion-MNIST sized for the demo (scripts/assets.mjs): its
    // bytes are not the official files', so their SHA-256 sums cannot apply; the IDX
    // structure is still checked.
    datasetOptions: { baseUrl: msg.dataBase, verify: false },
    onProgress: (p) => {
      received.set(p.file, p.receivedBytes);
      post({ type: 'download', receivedBytes: [...received.values()].reduce((a, b) => a + b, 0), totalBytes });
    },
    onStep: (step) => post({ type: 'step', step }),
    onStatus: (text) => post({ type: 'status', text }),
    shouldStop,
    yieldControl,
  });
  post({ type: 'done', stopped: shouldStop(), iterations: steps.length });
});
