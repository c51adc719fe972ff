// The site in one command: typedoc writes the API reference as Markdown pages into
// site/api, VitePress renders every page and bundles the demo, then the static assets
// (wasm binaries, the demo's dataset) are copied in.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { copyAssets, docsRoot } from './assets.mjs';

const dist = join(docsRoot, 'dist');

function run(label, cmd, args) {
  const started = Date.now();
  const r = spawnSync(cmd, args, { cwd: docsRoot, stdio: 'inherit', shell: false });
  if (r.status !== 0) {
    console.error(`docs build: '${cmd} ${args.join(' ')}' failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
  console.log(`docs build: ${label} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

rmSync(dist, { recursive: true, force: true });
rmSync(join(docsRoot, 'site/api'), { recursive: true, force: true });
const bin = (name) => join(docsRoot, 'node_modules', '.bin', name);
run('API reference (typedoc)', bin('typedoc'), ['--options', 'typedoc.json', '--logLevel', 'Error']);
run('pages (vitepress)', bin('vitepress'), ['build', 'site']);
const { wasmFiles, data } = copyAssets(dist);
console.log(`docs build: copied ${wasmFiles.length} wasm files and the demo's dataset (${data})`);
console.log(`docs build: site written to ${dist}`);
