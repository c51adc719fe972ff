/// <reference lib="webworker" />
/**
 * The tfjs-layers page's Web Worker: model.fit runs here so the page stays responsive.
 * It loads the wasm backend, fetches Fashion-MNIST from the site, and posts every step.
 */

import { setupBackend } from '@lopt/pytree';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { serveTraining } from '../training-worker/serve';
import type { FromLayersWorker, ToLayersWorker } from './protocol';
import { runLayersDemo } from './training';

serveTraining<Extract<ToLayersWorker, { type: 'start' }>, FromLayersWorker>(
  async (msg, post, { shouldStop, yieldControl }) => {
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
      shouldStop,
      yieldControl,
    });
    post({ type: 'done', stopped: shouldStop(), epochs: epochs.length });
  },
);
