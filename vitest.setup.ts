import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setupBackend } from './packages/pytree/src/backend';

// Tests read the real data files: LOPT_DATA_DIR when set, else the checked copies that
// sit beside the repository on development and CI machines.
if (!process.env.LOPT_DATA_DIR) {
  const beside = fileURLToPath(new URL('../shared/data', import.meta.url));
  if (existsSync(beside)) process.env.LOPT_DATA_DIR = beside;
}

// Every package's tests run on wasm (the default in Node) unless LOPT_BACKEND names another.
await setupBackend(process.env.LOPT_BACKEND || 'wasm');
