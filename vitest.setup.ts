import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultCacheRoot } from './packages/datasets/src/cache-dir';
import { fashionMnistDatasets, mnistDatasets } from './packages/datasets/src/datasets';
import { setupBackend } from './packages/pytree/src/backend';

// Tests read the real data files from LOPT_DATA_DIR (a folder holding fashion-mnist/ and
// mnist/): when unset, the checked copies beside the repository (development and CI
// machines), else the user's cache, where the official files are downloaded once.
if (!process.env.LOPT_DATA_DIR) {
  const beside = fileURLToPath(new URL('../shared/data', import.meta.url));
  if (existsSync(join(beside, 'fashion-mnist'))) {
    process.env.LOPT_DATA_DIR = beside;
  } else {
    const root = defaultCacheRoot() ?? join(process.cwd(), '.lopt-data');
    const files = [
      'train-images-idx3-ubyte.gz',
      'train-labels-idx1-ubyte.gz',
      't10k-images-idx3-ubyte.gz',
      't10k-labels-idx1-ubyte.gz',
    ];
    const missing = (d: string) => files.some((f) => !existsSync(join(root, d, f)));
    if (missing('fashion-mnist')) await fashionMnistDatasets({ cacheRoot: root, imageSize: [8, 8] });
    if (missing('mnist')) await mnistDatasets({ cacheRoot: root, imageSize: [8, 8] });
    process.env.LOPT_DATA_DIR = root;
  }
}

// Every package's tests run on wasm (the default in Node) unless LOPT_BACKEND names another.
await setupBackend(process.env.LOPT_BACKEND || 'wasm');
