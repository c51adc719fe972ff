// Starts the child processes of the distributed benchmarks: workers
// (peers/distributed-worker.ts), learners (peers/distributed-learner.ts) and the
// 2-process ceiling's processes (peers/distributed-ceiling.ts).
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WORKER_NODE_FLAGS } from '@lopt/distributed';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * The Node flags of bench workers and ceiling processes: `LOPT_BENCH_WORKER_FLAGS` when
 * set (an empty value runs them with V8's defaults, for a side-by-side), else
 * `WORKER_NODE_FLAGS`, the flags `lopt meta-train --workers N` gives its workers.
 */
export function benchWorkerFlags(): readonly string[] {
  const env = process.env.LOPT_BENCH_WORKER_FLAGS;
  return env === undefined ? WORKER_NODE_FLAGS : env.split(' ').filter(Boolean);
}

/** `node <nodeArgs> --import tsx <script> <scriptArgs>`, pinned to `core` with `taskset` when given. */
function spawnScript(
  script: string,
  scriptArgs: string[],
  opts: { core?: number; nodeArgs: readonly string[]; stdin: 'pipe' | 'ignore' },
): ChildProcess {
  const args = [...opts.nodeArgs, '--import', import.meta.resolve('tsx'), join(here, script), ...scriptArgs];
  const stdio: ['pipe' | 'ignore', 'pipe', 'inherit'] = [opts.stdin, 'pipe', 'inherit'];
  return opts.core === undefined
    ? spawn(process.execPath, args, { stdio })
    : spawn('taskset', ['-c', String(opts.core), process.execPath, ...args], { stdio });
}

/** Options of `startBenchWorker`. */
export interface BenchWorkerOptions {
  /** Which estimator the worker runs (default `speed`). */
  kind?: 'speed' | 'meta-loss';
  /** Pin the process to this core (`taskset`). */
  core?: number;
  /** Node flags (default: `benchWorkerFlags()`). */
  nodeArgs?: readonly string[];
}

/** Starts a worker of run `run` and resolves once it is set up. */
export function startBenchWorker(
  url: string,
  run: string,
  seed: number,
  opts: BenchWorkerOptions = {},
): Promise<ChildProcess> {
  const child = spawnScript('distributed-worker.ts', [url, run, String(seed), opts.kind ?? 'speed'], {
    core: opts.core,
    nodeArgs: opts.nodeArgs ?? benchWorkerFlags(),
    stdin: 'ignore',
  });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => {
      if (b.toString().includes('ready')) resolve(child);
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`a benchmark worker exited (code ${code}) before it was ready`)));
  });
}

/** A child process driven over its stdin: one request line, one answer line. */
interface DrivenProcess {
  child: ChildProcess;
  /** Writes `line` to the child's stdin and resolves with the next line it prints. */
  ask(line: string): Promise<string>;
}

/**
 * Starts `script` (see `spawnScript`) and resolves once it prints `ready`. An answer still
 * awaited when the child exits is rejected, so a crashed child fails the case rather than
 * hanging it.
 */
function startDriven(
  script: string,
  scriptArgs: string[],
  what: string,
  opts: { core?: number; nodeArgs: readonly string[] },
): Promise<DrivenProcess> {
  const child = spawnScript(script, scriptArgs, { ...opts, stdin: 'pipe' });
  const waiting: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  let exited: Error | undefined;
  let buffered = '';
  child.stdout!.on('data', (b: Buffer) => {
    buffered += b.toString();
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      waiting.shift()?.resolve(line);
    }
  });
  const fail = (e: Error) => {
    exited = e;
    for (const w of waiting.splice(0)) w.reject(e);
  };
  child.on('error', fail);
  child.on('exit', (code) => fail(new Error(`${what} exited (code ${code})`)));
  const next = () =>
    new Promise<string>((resolve, reject) => (exited ? reject(exited) : waiting.push({ resolve, reject })));
  const ready = next();
  const proc: DrivenProcess = {
    child,
    ask(line) {
      const answer = next();
      if (!exited) child.stdin!.write(`${line}\n`);
      return answer;
    },
  };
  return ready.then((line) => {
    if (line !== 'ready') throw new Error(`${what} said '${line}'`);
    return proc;
  });
}

/** Parses a `done <wall ms> <cpu ms> [<estimates dropped as stale>]` answer (the count is 0 when absent). */
function parseDone(answer: string, what: string): { wallMs: number; cpuMs: number; staleDropped: number } {
  const [word, wall, cpu, stale] = answer.split(' ');
  if (word !== 'done') throw new Error(`${what} answered '${answer}'`);
  return { wallMs: Number(wall), cpuMs: Number(cpu), staleDropped: Number(stale ?? 0) };
}

/** A process of the 2-process ceiling (peers/distributed-ceiling.ts), driven over its stdin. */
export interface CeilingProcess {
  /** The child process. */
  child: ChildProcess;
  /** Computes `count` estimates; resolves with the wall and CPU milliseconds they took in the child. */
  run(count: number): Promise<{ wallMs: number; cpuMs: number }>;
}

/** Starts a process of the 2-process ceiling and resolves once it is set up. */
export async function startCeilingProcess(
  seed: number,
  opts: { core?: number; nodeArgs?: readonly string[] } = {},
): Promise<CeilingProcess> {
  const what = 'a ceiling process';
  const p = await startDriven('distributed-ceiling.ts', [String(seed)], what, {
    core: opts.core,
    nodeArgs: opts.nodeArgs ?? benchWorkerFlags(),
  });
  return { child: p.child, run: async (count) => parseDone(await p.ask(`run ${count}`), what) };
}

/** A learner process of the distributed speed benchmark (peers/distributed-learner.ts), driven over its stdin. */
export interface LearnerProcess {
  /** The child process. */
  child: ChildProcess;
  /**
   * Runs `steps` outer steps; resolves with the wall and CPU milliseconds they took in the
   * child, and the estimates the learner has dropped as stale so far (async mode).
   */
  run(steps: number): Promise<{ wallMs: number; cpuMs: number; staleDropped: number }>;
  /** Finishes the run (the workers stop) and lets the process exit. */
  finish(): Promise<void>;
}

/**
 * Starts the learner of run `run` (the speed benchmark's, `estimatesPerStep` estimates per
 * outer step, in `mode`) in a process of its own, as `lopt meta-train --role learner`
 * runs, with V8's default flags, and resolves once it has claimed the run.
 */
export async function startLearnerProcess(
  url: string,
  run: string,
  estimatesPerStep: number,
  mode: 'sync' | 'async' = 'sync',
): Promise<LearnerProcess> {
  const what = `the learner of run '${run}'`;
  const p = await startDriven('distributed-learner.ts', [url, run, String(estimatesPerStep), mode], what, {
    nodeArgs: [],
  });
  return {
    child: p.child,
    run: async (steps) => parseDone(await p.ask(`run ${steps}`), what),
    async finish() {
      const answer = await p.ask('finish');
      if (answer !== 'finished') throw new Error(`${what} answered '${answer}'`);
    },
  };
}
