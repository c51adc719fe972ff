/**
 * `pnpm bench`: runs every case in src/benchmarks/ on the wasm backend, prints one table
 * (benchmark, lopt and its peak memory, peer and its peak memory, the median of the block
 * ratios, the block protocol, goal, verdict) and writes the rows to bench-results.json.
 * Usage: tsx src/run.ts [name-filter]; LOPT_BENCH_BLOCKS / LOPT_BENCH_ITERS override the
 * blocks and iterations per block of every ratio case (small values to check it runs).
 */
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setupBackend } from '@lopt/pytree';
import Table from 'cli-table3';
import { type BenchCase, type BenchResult, fmtMb, runCase } from './harness.js';

const here = dirname(fileURLToPath(import.meta.url));
// The checked data copies beside the repository, when present (no download needed).
const beside = join(here, '..', '..', '..', '..', 'shared', 'data');
if (!process.env.LOPT_DATA_DIR && existsSync(beside)) process.env.LOPT_DATA_DIR = beside;
const filter = process.argv[2];

async function loadCases(): Promise<BenchCase[]> {
  const dir = join(here, 'benchmarks');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .sort();
  const cases: BenchCase[] = [];
  for (const f of files) {
    const mod = (await import(join(dir, f))) as { default: BenchCase | BenchCase[] };
    cases.push(...(Array.isArray(mod.default) ? mod.default : [mod.default]));
  }
  return filter ? cases.filter((c) => c.name.toLowerCase().includes(filter.toLowerCase())) : cases;
}

/**
 * The machine's CPU time so far, in clock ticks: [all, stolen] (Linux `/proc/stat`; undefined
 * elsewhere). Steal is time a virtual machine's cores waited for the host: while it is
 * high, every timing of the run is slower, peers' included.
 */
function cpuTicks(): [number, number] | undefined {
  if (!existsSync('/proc/stat')) return undefined;
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return [f.slice(0, 8).reduce((a, b) => a + b, 0), f[7] ?? 0];
}

const ticks0 = cpuTicks();
const backend = await setupBackend(process.env.LOPT_BACKEND || 'wasm');
const cases = await loadCases();
const rows: BenchResult[] = [];
for (const c of cases) {
  process.stderr.write(`running: ${c.name}\n`);
  try {
    rows.push(await runCase(c));
  } catch (e) {
    const note = e instanceof Error ? e.message : String(e);
    const skipped = note.startsWith('skip:');
    rows.push({
      name: c.name,
      lopt: '-',
      peer: '-',
      ratio: null,
      goal: c.goal,
      verdict: skipped ? 'skipped' : 'error',
      loptMs: null,
      peerMs: null,
      loptPeakMb: null,
      peerPeakMb: null,
      note: skipped ? note.slice(5).trim() : note,
    });
  }
}

const table = new Table({
  head: ['benchmark', 'lopt', 'peak RSS', 'peer', 'peak RSS', 'ratio', 'blocks x iters', 'goal', 'verdict'],
});
for (const r of rows) {
  table.push([
    r.name,
    r.lopt,
    fmtMb(r.loptPeakMb),
    r.peer,
    fmtMb(r.peerPeakMb),
    r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x (${r.ratioOf ?? 'median of block ratios'})`,
    r.protocol ?? '-',
    r.goal,
    r.note ? `${r.verdict}: ${r.note}` : r.verdict,
  ]);
}
// Timings on a busy machine are slower and noisier (ratios less so): the load says which.
const load = loadavg().map((x) => Number(x.toFixed(2)));
const ticks1 = cpuTicks();
const steal =
  ticks0 && ticks1 && ticks1[0] > ticks0[0]
    ? `, CPU steal ${((100 * (ticks1[1] - ticks0[1])) / (ticks1[0] - ticks0[0])).toFixed(1)}% during the run`
    : '';
console.log(
  `backend: ${backend}, node ${process.version}, ${cpus().length} cores, load average ${load.join(' ')}${steal}`,
);
console.log(table.toString());
const out = join(here, '..', 'bench-results.json');
writeFileSync(
  `${out}.tmp`,
  `${JSON.stringify({ backend, date: new Date().toISOString(), loadAverage: load, rows }, null, 2)}\n`,
);
renameSync(`${out}.tmp`, out);
console.log(`results written to ${out}`);
