// Builds dist/ when it is missing or older than a source file, so the tests always spawn
// the command built from the current sources (as a user would run it).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'index.js');

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

// The workspace packages are bundled in from their sources, so theirs count too.
const pkgs = join(root, '..', '..', 'packages');
const sources = [
  join(root, 'src'),
  ...readdirSync(pkgs)
    .map((p) => join(pkgs, p, 'src'))
    .filter((d) => existsSync(d)),
];
const stale =
  !existsSync(out) ||
  statSync(out).mtimeMs < Math.max(...sources.map((d) => newest(d)), statSync(join(root, 'tsup.config.ts')).mtimeMs);
if (stale) execFileSync('npx', ['tsup'], { cwd: root, stdio: process.env.CI ? 'inherit' : 'ignore' });
