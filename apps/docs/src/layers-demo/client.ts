/** Starts the tfjs-layers page's worker; Vite bundles `worker.ts` (with tfjs-layers and lopt) as a module. */
export function createLayersWorker(): Worker {
  return new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'lopt-layers-demo' });
}
