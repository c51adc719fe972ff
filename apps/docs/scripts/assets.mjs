// Static assets the site serves but does not commit: the tfjs-backend-wasm binaries and the
// four official Fashion-MNIST files (copied from the local data folder at build time).
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const docsRoot = resolve(here, '..');
const repoRoot = resolve(docsRoot, '../..');

export const FASHION_MNIST_FILES = [
  'train-images-idx3-ubyte.gz',
  'train-labels-idx1-ubyte.gz',
  't10k-images-idx3-ubyte.gz',
  't10k-labels-idx1-ubyte.gz',
];

/** The folder holding the four Fashion-MNIST .gz files, or an error naming where it looked. */
export function findFashionMnist() {
  const candidates = [
    process.env.LOPT_DATA_DIR && join(process.env.LOPT_DATA_DIR, 'fashion-mnist'),
    join(repoRoot, '../shared/data/fashion-mnist'),
    '/usr/share/datasets/fashion-mnist',
  ].filter(Boolean);
  for (const dir of candidates) {
    if (FASHION_MNIST_FILES.every((f) => existsSync(join(dir, f)))) return dir;
  }
  throw new Error(
    `The Fashion-MNIST files (${FASHION_MNIST_FILES.join(', ')}) were not found in any of: ${candidates.join(', ')}. ` +
      'Set LOPT_DATA_DIR to a folder holding fashion-mnist/<the four files>.',
  );
}

/** Copies the wasm binaries to `<out>/tfjs-wasm/` and Fashion-MNIST to `<out>/data/fashion-mnist/`. */
export function copyAssets(out) {
  const require = createRequire(import.meta.url);
  const wasmDir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  const wasmOut = join(out, 'tfjs-wasm');
  mkdirSync(wasmOut, { recursive: true });
  const wasmFiles = readdirSync(join(wasmDir, 'dist')).filter((f) => f.endsWith('.wasm'));
  if (wasmFiles.length === 0) throw new Error(`no .wasm files in ${join(wasmDir, 'dist')}`);
  for (const f of wasmFiles) copyFileSync(join(wasmDir, 'dist', f), join(wasmOut, f));

  const dataDir = findFashionMnist();
  const dataOut = join(out, 'data', 'fashion-mnist');
  mkdirSync(dataOut, { recursive: true });
  for (const f of FASHION_MNIST_FILES) copyFileSync(join(dataDir, f), join(dataOut, f));
  return { wasmFiles, dataDir };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = resolve(process.argv[2] ?? join(docsRoot, 'site/public'));
  const { wasmFiles, dataDir } = copyAssets(out);
  console.log(`assets: ${wasmFiles.length} wasm files and Fashion-MNIST from ${dataDir} -> ${out}`);
}
