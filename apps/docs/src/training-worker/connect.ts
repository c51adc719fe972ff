// The page side of a training demo: the worker starts on the first run (its module loads
// only then), runs are started and stopped by message, and the site's asset folders are
// given as absolute URLs (the worker resolves them against its own module URL otherwise).

/** A demo's worker as the page sees it. */
export interface TrainingWorker<To> {
  /** Starts the worker if needed and sends `msg`. */
  send(msg: To): Promise<void>;
  /** Asks the current run to stop after its step. */
  stop(): void;
  /** Ends the worker (the page is leaving). */
  terminate(): void;
}

/**
 * Connects a demo to its worker, made by `create` on first use; `onMessage` gets each
 * message, `onError` the message of an error the worker could not post itself.
 */
export function connectTrainingWorker<To, From>(
  create: () => Promise<Worker>,
  onMessage: (msg: From) => void,
  onError: (message: string) => void,
): TrainingWorker<To> {
  let worker: Worker | undefined;
  return {
    async send(msg) {
      if (!worker) {
        worker = await create();
        worker.onmessage = (event: MessageEvent<From>) => onMessage(event.data);
        worker.onerror = (e) => onError(e.message);
      }
      worker.postMessage(msg);
    },
    stop() {
      worker?.postMessage({ type: 'stop' });
    },
    terminate() {
      worker?.terminate();
      worker = undefined;
    },
  };
}

/** The absolute URLs of the site's tfjs wasm binaries and Fashion-MNIST cut; `withBase` is VitePress's. */
export function siteAssetUrls(withBase: (path: string) => string): { wasmBase: string; dataBase: string } {
  const abs = (p: string) => new URL(withBase(p), window.location.href).href;
  return { wasmBase: abs('/tfjs-wasm/'), dataBase: abs('/data/fashion-mnist/') };
}
