// Static assets the site serves but does not commit: the tfjs-backend-wasm binaries and the
// live demo's dataset, the first examples of the four official Fashion-MNIST files, cut
// from the local data folder at build time.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';

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

/**
 * Examples of each split the demo serves. Meta-training the 8x8 MLP for a few hundred
 * iterations of batch 128 cycles through 9600 training examples (80% of 12000) many
 * times; the demo never evaluates on the test split, which the loader still requires.
 * About 5 MB to download instead of the full 30 MB.
 */
export const DEMO_EXAMPLES = { train: 12000, test: 1000 };

/** The first `count` records of a gzipped IDX file (header count rewritten), gzipped. */
export function idxHead(gz, count) {
  const raw = gunzipSync(gz);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const rank = raw[3];
  const total = view.getUint32(4);
  if (count > total) throw new Error(`asked for ${count} records of an IDX file that has ${total}`);
  let record = 1;
  for (let d = 1; d < rank; d++) record *= view.getUint32(4 + 4 * d);
  const header = 4 + 4 * rank;
  const out = Buffer.from(raw.subarray(0, header + count * record));
  out.writeUInt32BE(count, 4);
  return gzipSync(out, { level: 6 });
}

/** Copies the wasm binaries to `<out>/tfjs-wasm/` and writes the demo's dataset to `<out>/data/fashion-mnist/`. */
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
  let bytes = 0;
  const sizes = {};
  for (const f of FASHION_MNIST_FILES) {
    const count = f.startsWith('train') ? DEMO_EXAMPLES.train : DEMO_EXAMPLES.test;
    const gz = idxHead(readFileSync(join(dataDir, f)), count);
    const tmp = join(dataOut, `${f}.tmp`);
    writeFileSync(tmp, gz);
    renameSync(tmp, join(dataOut, f));
    bytes += gz.length;
    sizes[f] = gz.length;
  }
  // The demo's progress bar shows the whole download against this total.
  writeFileSync(join(dataOut, 'sizes.json'), `${JSON.stringify(sizes)}\n`);
  const data = `${DEMO_EXAMPLES.train} + ${DEMO_EXAMPLES.test} examples from ${dataDir}, ${(bytes / 1e6).toFixed(1)} MB`;
  return { wasmFiles, dataDir, data, bytes };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = resolve(process.argv[2] ?? join(docsRoot, 'site/public'));
  const { wasmFiles, data } = copyAssets(out);
  console.log(`assets: ${wasmFiles.length} wasm files and the demo's dataset (${data}) -> ${out}`);
}
