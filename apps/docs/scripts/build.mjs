// The site in one command: typedoc writes the API reference as Markdown pages into
// site/api, VitePress renders every page and bundles the demo, then the static assets
// (wasm binaries, the demo's dataset) are copied in.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

/** VitePress's heading ids (its slugify, with -1, -2 for repeats), in page order. */
function headingIds(md) {
  const seen = new Map();
  const ids = new Set();
  for (const [, text] of md.matchAll(/^#{1,6} (.+)$/gm)) {
    const base = text
      .replace(/`/g, '')
      .normalize('NFKD')
      .replace(/[\u0300-\u036F]/g, '')
      .replace(/[\s~`!@#$%^&*()\-_+=[\]{}|\\;:"'“”‘’<>,.?/]+/g, '-')
      .replace(/-{2,}/g, '-')
      .replace(/^-+|-+$/g, '')
      .replace(/^(\d)/, '_$1')
      .toLowerCase();
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    ids.add(n ? `${base}-${n}` : base);
  }
  return ids;
}

/**
 * typedoc-vitepress-theme numbers a link's anchor as if names differing only in case
 * (`DatasetsState`, `datasetsState()`) shared one page-wide counter with others, which
 * VitePress does not do: point such a link at the heading that exists.
 */
function fixApiAnchors(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      fixApiAnchors(path);
      continue;
    }
    if (!name.endsWith('.md')) continue;
    const md = readFileSync(path, 'utf8');
    const ids = headingIds(md);
    const fixed = md.replace(/\]\(#([\w-]+?)-(\d+)\)/g, (link, base, n) =>
      ids.has(`${base}-${n}`) || !ids.has(base) ? link : `](#${base})`,
    );
    if (fixed !== md) writeFileSync(path, fixed);
  }
}

rmSync(dist, { recursive: true, force: true });
rmSync(join(docsRoot, 'site/api'), { recursive: true, force: true });
const bin = (name) => join(docsRoot, 'node_modules', '.bin', name);
run('API reference (typedoc)', bin('typedoc'), ['--options', 'typedoc.json', '--logLevel', 'Error']);
fixApiAnchors(join(docsRoot, 'site/api'));
run('pages (vitepress)', bin('vitepress'), ['build', 'site']);
const { wasmFiles, data } = copyAssets(dist);
console.log(`docs build: copied ${wasmFiles.length} wasm files and the demo's dataset (${data})`);
console.log(`docs build: site written to ${dist}`);
