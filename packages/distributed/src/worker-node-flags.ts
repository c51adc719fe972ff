import { availableParallelism } from 'node:os';

/**
 * Node (V8) flags for worker processes that fill a machine's cores. A worker is
 * single-threaded compute, but V8 runs much of its garbage collection on helper threads
 * (concurrent marking, parallel scavenges), so a lone worker on an otherwise idle machine
 * uses about 1.3 cores. When there are as many workers as cores, those helpers only take
 * time from the other workers; collecting on the worker's own thread
 * (`--single-threaded-gc`) keeps each worker to its core. A larger young generation
 * (`--max-semi-space-size`, in MB) lets most of an estimate's short-lived objects die
 * young, so fewer of them are copied and fewer full collections run.
 */
export const WORKER_NODE_FLAGS: readonly string[] = ['--single-threaded-gc', '--max-semi-space-size=64'];

/**
 * The Node flags to start each of `workers` local worker processes with: the
 * `WORKER_NODE_FLAGS` when the workers (plus the learner, which mostly waits) take every
 * core, none when cores are left over for V8's helper threads.
 *
 * @param workers - How many worker processes run on this machine.
 * @param cores - The machine's cores (default `os.availableParallelism()`).
 */
export function workerNodeFlags(workers: number, cores: number = availableParallelism()): string[] {
  if (!Number.isInteger(workers) || workers < 1) {
    throw new Error(`workerNodeFlags: workers must be a positive integer, got ${workers}`);
  }
  return workers >= cores ? [...WORKER_NODE_FLAGS] : [];
}
