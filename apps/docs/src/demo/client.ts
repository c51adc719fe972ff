/** Starts the demo's worker; Vite bundles `worker.ts` (and lopt) as a separate module. */
export function createDemoWorker(): Worker {
  return new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'lopt-demo' });
}
