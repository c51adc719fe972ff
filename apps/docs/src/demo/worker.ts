/// <reference lib="webworker" />
/**
 * The demo's Web Worker: training runs here so the page stays responsive. It loads the
 * backend, fetches Fashion-MNIST from the site, and posts every step to the page.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { setupBackend } from '@lopt/pytree';
import type { FromWorker, ToWorker } from './protocol';
import { runDemo } from './training';

const post = (msg: FromWorker) => (self as unknown as DedicatedWorkerGlobalScope).postMessage(msg);
let stopRequested = false;
let running = false;

async function pickBackend(wanted: 'wasm' | 'webgl' | 'auto', wasmBase: string): Promise<string> {
  setWasmPaths(wasmBase);
  if (wanted !== 'wasm') {
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

// A macrotask turn between iterations lets the Stop message in.
const yieldControl = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const msg = event.data;
  if (msg.type === 'stop') {
    stopRequested = true;
    return;
  }
  if (running) return;
  running = true;
  stopRequested = false;
  try {
    const backend = await pickBackend(msg.backend, msg.wasmBase);
    post({ type: 'backend', name: backend });
    // Web Crypto (for the files' SHA-256 check) exists only in secure contexts: https or localhost.
    const verify = !!globalThis.crypto?.subtle;
    if (!verify) post({ type: 'status', text: 'Not a secure context: the data files are not checked against their SHA-256 sums.' });
    const steps = await runDemo(msg.config, {
      datasetOptions: { baseUrl: msg.dataBase, verify },
      onStep: (step) => post({ type: 'step', step }),
      onStatus: (text) => post({ type: 'status', text }),
      shouldStop: () => stopRequested,
      yieldControl,
    });
    post({ type: 'done', stopped: stopRequested, iterations: steps.length });
  } catch (e) {
    post({ type: 'error', message: e instanceof Error ? e.message : String(e) });
  } finally {
    running = false;
  }
};
