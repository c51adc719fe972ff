/// <reference lib="webworker" />
/**
 * The tfjs-layers page's Web Worker: model.fit runs here so the page stays responsive.
 * It loads the wasm backend, fetches Fashion-MNIST from the site, and posts every step.
 */

import { setupBackend } from '@lopt/pytree';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { FromLayersWorker, ToLayersWorker } from './protocol';
import { runLayersDemo } from './training';

const post = (msg: FromLayersWorker) => (self as unknown as DedicatedWorkerGlobalScope).postMessage(msg);
let stopRequested = false;
let running = false;

// A macrotask turn after each step lets the Stop message in.
const yieldControl = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

self.onmessage = async (event: MessageEvent<ToLayersWorker>) => {
  const msg = event.data;
  if (msg.type === 'stop') {
    stopRequested = true;
    return;
  }
  if (running) return;
  running = true;
  stopRequested = false;
  try {
    setWasmPaths(msg.wasmBase);
    post({ type: 'backend', name: await setupBackend('wasm') });
    const epochs = await runLayersDemo(msg.config, {
      // The site serves a cut of Fashion-MNIST (scripts/assets.mjs: 12,000 training and 1,000
      // test images): its bytes are not the official files', so their SHA-256 sums cannot
      // apply; the IDX structure is still checked.
      datasetOptions: { baseUrl: msg.dataBase, verify: false },
      onStep: (step) => post({ type: 'step', step }),
      onEpoch: (epoch) => post({ type: 'epoch', epoch }),
      onStatus: (text) => post({ type: 'status', text }),
      shouldStop: () => stopRequested,
      yieldControl,
    });
    post({ type: 'done', stopped: stopRequested, epochs: epochs.length });
  } catch (e) {
    post({ type: 'error', message: e instanceof Error ? e.message : String(e) });
  } finally {
    running = false;
  }
};
