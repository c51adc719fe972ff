/**
 * Runs `torch_seed.py --serve` as a child process with one thread: the PyTorch peer of
 * the seed meta-iteration. The process stays up for the whole case; each `block(n)` is n
 * meta-iterations in a row timed inside Python (with the process's peak memory).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { INITIAL_THETA, type SeedArrays } from './seed-fixture.js';

const script = join(dirname(fileURLToPath(import.meta.url)), 'torch_seed.py');

/** The Python that runs the peer: `$LOPT_PYTHON`, else Debian's `/usr/bin/python3`. */
export const python = process.env.LOPT_PYTHON || '/usr/bin/python3';

/** `null` when `python` imports torch, else why not (for a 'skip:' note). */
export function torchUnavailable(): string | null {
  const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) return `${python} cannot run (${r.error.message})`;
  if (r.status !== 0)
    return `${python} cannot import torch (${(r.stderr.trim().split('\n').pop() ?? '').slice(0, 200)})`;
  return null;
}

/** A running PyTorch seed peer. */
export interface TorchSeed {
  /** Meta-loss of its first meta-iteration (initial theta). */
  firstLoss: number;
  /** torch's version and thread count, for the log. */
  info: string;
  /** `iters` meta-iterations in a row, timed inside Python; ms per iteration and peak RSS. */
  block(iters: number): Promise<{ msPerIter: number; peakRssMb: number }>;
  dispose(): void;
}

/** Starts the peer on `arrays` and waits for its first meta-iteration. */
export async function startTorchSeed(arrays: SeedArrays): Promise<TorchSeed> {
  const dir = mkdtempSync(join(tmpdir(), 'lopt-torch-seed-'));
  const dataFile = join(dir, 'seed.json');
  writeFileSync(
    dataFile,
    JSON.stringify({
      w0: Array.from(arrays.w0),
      b0: Array.from(arrays.b0),
      w1: Array.from(arrays.w1),
      b1: Array.from(arrays.b1),
      x: Array.from(arrays.x),
      labels: Array.from(arrays.labels),
      batchSize: arrays.batchSize,
      theta: INITIAL_THETA,
    }),
  );
  // One thread for every threading layer torch may use.
  const env = { ...process.env, OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' };
  const child = spawn(python, [script, dataFile, '--serve'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const waiting: { resolve(line: string): void; reject(e: Error): void }[] = [];
  const lines: string[] = [];
  let exited: Error | null = null;
  createInterface({ input: child.stdout }).on('line', (line) => {
    const w = waiting.shift();
    if (w) w.resolve(line);
    else lines.push(line);
  });
  child.on('exit', (code, signal) => {
    exited = new Error(`torch_seed.py exited (${signal ?? code}): ${stderr.trim().slice(-500)}`);
    for (const w of waiting.splice(0)) w.reject(exited);
  });
  child.on('error', (e) => {
    exited = e;
    for (const w of waiting.splice(0)) w.reject(e);
  });
  const nextLine = (): Promise<string> => {
    const l = lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (exited) return Promise.reject(exited);
    return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
  };
  const cleanup = () => {
    if (child.exitCode === null && !child.killed) {
      child.stdin.end('quit\n');
      setTimeout(() => {
        if (child.exitCode === null) child.kill();
      }, 2000).unref();
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ready = JSON.parse(await nextLine()) as { ready: boolean; firstLoss: number; torch: string; threads: number };
    return {
      firstLoss: ready.firstLoss,
      info: `torch ${ready.torch}, ${ready.threads} thread(s)`,
      async block(iters: number) {
        child.stdin.write(`block ${iters}\n`);
        return JSON.parse(await nextLine()) as { msPerIter: number; peakRssMb: number };
      },
      dispose: cleanup,
    };
  } catch (e) {
    cleanup();
    throw e;
  }
}
