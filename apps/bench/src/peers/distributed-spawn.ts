// Starts a worker process of the distributed benchmarks (peers/distributed-worker.ts).
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Options of `startBenchWorker`. */
export interface BenchWorkerOptions {
  /** Which estimator the worker runs (default `speed`). */
  kind?: 'speed' | 'meta-loss';
  /** Pin the process to this core (`taskset`). */
  core?: number;
}

/** Starts a worker of run `run` and resolves once it is set up. */
export function startBenchWorker(
  url: string,
  run: string,
  seed: number,
  opts: BenchWorkerOptions = {},
): Promise<ChildProcess> {
  const args = [
    '--import',
    import.meta.resolve('tsx'),
    join(here, 'distributed-worker.ts'),
    url,
    run,
    String(seed),
    opts.kind ?? 'speed',
  ];
  const child =
    opts.core === undefined
      ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
      : spawn('taskset', ['-c', String(opts.core), process.execPath, ...args], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => {
      if (b.toString().includes('ready')) resolve(child);
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`a benchmark worker exited (code ${code}) before it was ready`)));
  });
}
