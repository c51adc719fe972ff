import { setupBackend } from './packages/pytree/src/backend';

// Every package's tests run on wasm (the default in Node) unless LOPT_BACKEND names another.
await setupBackend(process.env.LOPT_BACKEND || 'wasm');
