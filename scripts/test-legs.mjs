// Runs the test suite over the backend matrix (see the README's "Backend matrix"): each
// leg runs `vitest run` in every package it covers, with the leg's environment, and writes
// the package's JSON report `.vitest-results.<leg>.json`. The workspace must be built first.
//
// The (leg, package) runs of all three legs share one pool of workers, longest first, so
// both cores stay busy to the end instead of waiting, leg by leg, for the slowest package.
// Output of a run is printed only when it fails; each run's time is printed when it ends.
//
//   node scripts/test-legs.mjs [leg ...] [dir ...]   (default: every leg, every package)
//     e.g. node scripts/test-legs.mjs cpu apps/cli
//   LOPT_TEST_JOBS=N                          (runs at once; default: the number of cores)
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { delimiter, join } from 'node:path';

const LEGS = {
  // Everything: slow tests and the docs site's browser test included.
  wasm: { env: { LOPT_BACKEND: 'wasm' }, covers: () => true },
  // Every package and app but the docs site (its Chromium test runs once, on wasm).
  cpu: { env: { LOPT_BACKEND: 'cpu', LOPT_SLOW_TESTS: 'off' }, covers: (dir) => dir !== 'apps/docs' },
  // The packages with every fast path off (plain tfjs ops only), but for datasets and
  // distributed, which hold no op math (files; queues and processes).
  plain: {
    env: { LOPT_BACKEND: 'wasm', LOPT_FAST_PATHS: 'off', LOPT_SLOW_TESTS: 'off' },
    covers: (dir) => dir.startsWith('packages/') && dir !== 'packages/datasets' && dir !== 'packages/distributed',
  },
  // Celo2's quality runs on real Fashion-MNIST and MNIST (issue protocol: hundreds of
  // steps, several seeds), one leg per file so the pool runs them side by side.
  celo2mlp: {
    env: { LOPT_BACKEND: 'wasm', LOPT_CELO2_QUALITY: '1' },
    covers: (dir) => dir === 'packages/learned',
    files: ['src/celo2-quality-mlp.test.ts'],
  },
  celo2conv: {
    env: { LOPT_BACKEND: 'wasm', LOPT_CELO2_QUALITY: '1' },
    covers: (dir) => dir === 'packages/learned',
    files: ['src/celo2-quality-conv.test.ts'],
  },
};

// Rough seconds per run on a loaded 2-core machine (a CI run's times), used only to start
// the longest runs first; a wrong or missing number costs packing, never a test. Unlisted
// runs count 20 s.
const ESTIMATE = {
  'celo2conv packages/learned': 500,
  'wasm apps/cli': 460,
  'wasm apps/docs': 310,
  'celo2mlp packages/learned': 290,
  'wasm packages/learned': 155,
  'cpu packages/tasks': 120,
  'cpu apps/examples': 95,
  'cpu packages/layers': 95,
  'wasm apps/examples': 95,
  'cpu apps/cli': 85,
  'cpu packages/learned': 80,
  'wasm packages/outer-trainers': 80,
  'cpu packages/outer-trainers': 70,
  'wasm packages/tasks': 70,
  'wasm packages/distributed': 65,
  'plain packages/learned': 60,
  'wasm packages/layers': 55,
  'plain packages/outer-trainers': 55,
  'plain packages/layers': 45,
  'plain packages/tasks': 40,
  'cpu packages/datasets': 30,
  'wasm packages/datasets': 30,
  'wasm packages/optimizers': 25,
  'cpu packages/distributed': 25,
  'wasm packages/pytree': 20,
  'cpu packages/optimizers': 20,
  'plain packages/optimizers': 20,
};

const pnpmVersion = JSON.parse(readFileSync('package.json', 'utf8')).packageManager.split('@')[1];
// A package whose test script is plain `vitest run` runs the workspace's vitest directly, as
// `pnpm run test` would (its node_modules/.bin dirs first on PATH), without starting npx and
// pnpm once per run (seconds each on a loaded machine). Any other script goes through pnpm.
const root = process.cwd();
const vitestEntry = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const args = process.argv.slice(2);
const only = args.filter((a) => a.includes('/')).map((a) => a.replace(/\/$/, ''));
const named = args.filter((a) => !a.includes('/'));
const legs = named.length > 0 ? named : Object.keys(LEGS);
for (const leg of legs) {
  if (!LEGS[leg]) {
    console.error(`test-legs: unknown leg '${leg}'; the legs are ${Object.keys(LEGS).join(', ')}`);
    process.exit(2);
  }
}

const dirs = [];
for (const group of ['packages', 'apps']) {
  for (const name of readdirSync(group).sort()) {
    const pkgFile = join(group, name, 'package.json');
    const dir = `${group}/${name}`;
    if (only.length > 0 && !only.includes(dir)) continue;
    const test = existsSync(pkgFile) ? JSON.parse(readFileSync(pkgFile, 'utf8')).scripts?.test : undefined;
    if (test) dirs.push({ dir, direct: test === 'vitest run' && existsSync(vitestEntry) });
  }
}
const jobs = legs
  .flatMap((leg) => dirs.filter(({ dir }) => LEGS[leg].covers(dir)).map(({ dir, direct }) => ({ leg, dir, direct })))
  .map((j) => ({ ...j, estimate: ESTIMATE[`${j.leg} ${j.dir}`] ?? 20 }))
  .sort((a, b) => b.estimate - a.estimate);

// biome-ignore lint/suspicious/noUndeclaredEnvVars: this script runs outside turbo
const workers = Number(process.env.LOPT_TEST_JOBS) || availableParallelism();
const t0 = Date.now();
const legSeconds = Object.fromEntries(legs.map((l) => [l, 0]));
let failures = 0;

function run({ leg, dir, direct }) {
  return new Promise((resolve) => {
    const start = Date.now();
    const env = { ...process.env, ...LEGS[leg].env, LOPT_TEST_LEG: leg, FORCE_COLOR: '0' };
    const files = LEGS[leg].files ?? [];
    let child;
    if (direct) {
      const bins = [join(root, dir, 'node_modules', '.bin'), join(root, 'node_modules', '.bin')];
      env.PATH = [...bins, env.PATH].filter(Boolean).join(delimiter);
      child = spawn(process.execPath, [vitestEntry, 'run', ...files], {
        cwd: dir,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } else {
      child = spawn('npx', ['-y', `pnpm@${pnpmVersion}`, 'run', 'test', ...files], {
        cwd: dir,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    }
    const out = [];
    child.on('error', (e) => out.push(Buffer.from(`could not start: ${e.message}\n`)));
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => out.push(d));
    child.on('close', (code, signal) => {
      const s = Math.round((Date.now() - start) / 1000);
      legSeconds[leg] += s;
      const ok = code === 0;
      if (!ok) {
        failures += 1;
        process.stdout.write(`\n== ${leg} ${dir}: failed (${signal ?? `exit ${code}`}); its output:\n`);
        process.stdout.write(Buffer.concat(out));
      }
      const at = Math.round((Date.now() - t0) / 1000);
      console.log(`== ${leg} ${dir}: ${s} s${ok ? '' : ', FAILED'} (at ${at} s)`);
      resolve();
    });
  });
}

const queue = [...jobs];
await Promise.all(
  Array.from({ length: Math.min(workers, queue.length) }, async () => {
    for (let job = queue.shift(); job; job = queue.shift()) await run(job);
  }),
);
const legLine = legs.map((l) => `${l} ${legSeconds[l]} s`).join(', ');
console.log(`== test legs: ${Math.round((Date.now() - t0) / 1000)} s wall, ${workers} at once (${legLine} of runs)`);
process.exit(failures > 0 ? 1 : 0);
