/**
 * Distributed meta-training (`@lopt/distributed`): outer steps per second of a learner
 * (sync, and async in a row of its own) served by 2 worker processes, against the same
 * learner served by 1, on a redis-server started on loopback. Each estimate is Part 5's PES step (MLPLOpt, 4
 * problems of ImageMLP_FashionMnist8_Relu32, truncation length 10: about 0.1 s of one
 * core), and each outer step averages 8 of them. Eight estimates per step rather than
 * two: the workers pull requests from one queue, so a worker slowed by other load takes
 * fewer of them, and the wait at the end of a step is at most one estimate. Workers are
 * single-threaded (tfjs' wasm backend runs one thread in Node). Each side's learner runs
 * in a process of its own, as `lopt meta-train --role learner` runs it (the bench
 * process, its heap grown by the cases before, would otherwise share the cores' time);
 * it only waits on Redis while the workers compute, and the note of the row reports the
 * CPU time each side spends per outer step (learner, workers) so that claim is checked
 * on every run. Peak memory is the sum of the side's processes' peaks.
 * Both sides first run 30 untimed outer steps (see WARMUP_STEPS): the rows compare
 * processes at their steady speed, as a long run spends its time.
 * On a machine with 2 free cores the goal is at least 1.7x the outer steps per second,
 * a time ratio of at most 0.59; on a loaded machine the ratio is noisy. Two reference rows
 * come first: the worker job pinned to each core (what the cores' speeds allow 2 workers),
 * and the 2-process ceiling, the same job in 2 independent processes against 1 (no
 * Redis, no learner). The distributed rows' notes compare their speedup with both.
 * `LOPT_BENCH_PIN=1` pins worker processes to cores (`taskset`, one core each). Workers and
 * ceiling processes run with the flags `lopt meta-train --workers N` gives its workers
 * (`WORKER_NODE_FLAGS`); `LOPT_BENCH_WORKER_FLAGS` replaces them (empty: V8's defaults).
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { findRedisServer, REDIS_INSTALL_HINT, startRedisServer } from '@lopt/distributed';
import { type BlockRunner, median, type RatioCase } from '../harness.js';
import {
  benchWorkerFlags,
  type CeilingProcess,
  type LearnerProcess,
  startBenchWorker,
  startCeilingProcess,
  startLearnerProcess,
} from '../peers/distributed-spawn.js';

/** The workers' Node flags, for the rows' notes. */
const flagsNote = () => `; worker flags: ${benchWorkerFlags().join(' ') || 'none'}`;

/** Estimates averaged per outer step. */
const ESTIMATES_PER_STEP = 8;

/**
 * Untimed outer steps a side before its blocks: a worker process reaches its steady speed
 * only after about 60-100 estimates (most likely V8's tiered compilation, whose helper
 * thread competes with the other worker for the second core), and a long
 * meta-training run spends almost all of its time past that point. 30 steps give each of
 * the 2 workers 120 estimates and the single worker 240.
 */
const WARMUP_STEPS = 30;

/** CPU milliseconds a process has used so far (Linux `/proc`; NaN elsewhere). */
function processCpuMs(pid: number): number {
  const file = `/proc/${pid}/stat`;
  if (!existsSync(file)) return Number.NaN;
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const rest = readFileSync(file, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / 100;
}

/** Whether `taskset` (util-linux), which pins a process to cores, is on the PATH. */
function hasTaskset(): boolean {
  return spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Peak resident memory (MB) of a process so far (Linux `/proc`; NaN elsewhere). */
function processPeakRssMb(pid: number): number {
  const file = `/proc/${pid}/status`;
  if (!existsSync(file)) return Number.NaN;
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(file, 'utf8'))?.[1];
  return kb === undefined ? Number.NaN : Number(kb) / 1024;
}

interface CpuPerStep {
  learner: number[];
  workers: number[];
  /** Outer steps run so far (warm-up included), and the estimates dropped as stale in them. */
  steps: number;
  staleDropped: number;
}

/**
 * Times blocks of outer steps of a learner process, and records the CPU time learner and
 * workers spent per step; the peak memory is the sum of the side's processes' peaks.
 * With `freezeBetween` the side's workers are stopped (SIGSTOP) from the end of each of
 * its blocks to the start of its next: an async learner leaves requests outstanding when
 * its block ends, and its workers would otherwise go on computing them through the other
 * side's block, taking that side's cores and starting their next block with results
 * already made. Stopped mid-estimate, they resume it where they left it.
 */
function side(learner: LearnerProcess, workers: ChildProcess[], cpu: CpuPerStep, freezeBetween: boolean): BlockRunner {
  return {
    async block(iters: number) {
      const workerCpu = () => workers.reduce((s, w) => s + processCpuMs(w.pid!), 0);
      if (freezeBetween) for (const w of workers) w.kill('SIGCONT');
      const w0 = workerCpu();
      const run = learner.run(iters);
      const { wallMs, cpuMs, staleDropped } = await run.finally(() => {
        if (freezeBetween) for (const w of workers) w.kill('SIGSTOP');
      });
      cpu.steps += iters;
      cpu.staleDropped = staleDropped;
      cpu.learner.push(cpuMs / iters);
      cpu.workers.push((workerCpu() - w0) / iters);
      const peakRssMb = [learner.child, ...workers].reduce((s, p) => s + processPeakRssMb(p.pid!), 0);
      return { msPerIter: wallMs / iters, peakRssMb };
    },
  };
}

const fmtCpu = (c: CpuPerStep, wallMs: number, mode: 'sync' | 'async') => {
  const l = median(c.learner);
  // Async: estimates computed and then dropped as too old are work the speedup does not count.
  const stale =
    mode === 'async'
      ? `, ${c.staleDropped} stale estimates dropped against ${c.steps * ESTIMATES_PER_STEP} applied`
      : '';
  return `learner ${l.toFixed(0)} ms CPU/step (${((100 * l) / wallMs).toFixed(1)}% of its wall time), workers ${median(c.workers).toFixed(0)} ms CPU/step${stale}`;
};

/** The 2-process ceiling's ratio (steps/s, 2 over 1) when it ran in this bench run, for the distributed row's note. */
let ceilingSpeedup: number | undefined;

/**
 * The worker job's time per outer step's worth on core 0 and on core 1 (medians), when
 * the per-core row ran in this bench run, for the distributed rows' notes.
 */
let coreTimes: { core0: number; core1: number } | undefined;

/**
 * What the cores' speeds allow 2 workers, one a core, over 1 worker: against a lone
 * worker on core 0 (`pinnedToCore0`), `1 + t0 / t1`; else against one on the faster
 * core, `1 + t_fast / t_slow` (t: time per estimate). 2x on equal cores.
 */
function coreBound(t: { core0: number; core1: number }, pinnedToCore0: boolean): number {
  return pinnedToCore0 ? 1 + t.core0 / t.core1 : 1 + Math.min(t.core0, t.core1) / Math.max(t.core0, t.core1);
}

/**
 * Waits for processes being started, all or none: when one fails, those started are killed
 * (`childOf` gives the process of a started one) before the error is thrown, since the
 * harness disposes only what a finished setup returns.
 */
async function startAll<T>(starts: Promise<T>[], childOf: (started: T) => ChildProcess): Promise<T[]> {
  const settled = await Promise.allSettled(starts);
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) {
    for (const r of settled) if (r.status === 'fulfilled') childOf(r.value).kill('SIGKILL');
    throw (failed as PromiseRejectedResult).reason;
  }
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** Times blocks of outer steps' worth of estimates (8 per step) split over `procs`, and records their CPU per estimate. */
function ceilingSide(procs: CeilingProcess[], cpuPerEstimate: number[]): BlockRunner {
  return {
    async block(iters: number) {
      const each = (ESTIMATES_PER_STEP * iters) / procs.length;
      const t0 = performance.now();
      const done = await Promise.all(procs.map((p) => p.run(each)));
      const ms = (performance.now() - t0) / iters;
      cpuPerEstimate.push(done.reduce((s, d) => s + d.cpuMs, 0) / (ESTIMATES_PER_STEP * iters));
      return { msPerIter: ms };
    },
  };
}

/**
 * The worker job on each core: the very job of the ceiling's processes, in one process
 * pinned to core 0 and one pinned to core 1 (`taskset`, all of a process's threads), the
 * same seed in both, timed in alternating blocks of 3 outer steps' worth (24 estimates).
 * Two workers, one a core, can give at most `1 + t_fast / t_slow` (t: time per estimate)
 * the steps/s of one worker on the faster core, however light the protocol between
 * them; the note says that bound (from the two sides' median times), and the distributed
 * rows' notes compare with it. On a machine whose cores are equal the ratio is 1 and the
 * bound 2x. (On one 2-core virtual machine, in runs by hand minutes apart, this job took
 * 1.2-1.7x and an XNNPACK matmul 1.3-1.6x longer on core 1 than on core 0, while a
 * TypeScript compile took as long on both; twenty minutes later this row measured core
 * 1 at 0.93x core 0's time.)
 */
const coreSpeeds: RatioCase = {
  name: 'distributed outer steps: the worker job on each core, core 1 vs core 0 (pinned)',
  goal: 'reference: core 1 at most 10% slower?',
  goalRatio: 1.1,
  peerName: 'core 0',
  itersPerBlock: 3,
  blocks: 5,
  // 120 estimates a process, as each of the 2 workers gets in the distributed rows.
  warmupIters: WARMUP_STEPS / 2,
  async setup() {
    if (availableParallelism() < 2) throw new Error('skip: this machine has one core');
    if (!hasTaskset()) throw new Error('skip: taskset is not installed (Debian: apt-get install util-linux)');
    const procs = await startAll(
      [startCeilingProcess(1, { core: 0 }), startCeilingProcess(1, { core: 1 })],
      (p) => p.child,
    );
    const cpuPerEstimate: [number[], number[]] = [[], []];
    return {
      lopt: ceilingSide([procs[1]!], cpuPerEstimate[1]),
      peer: ceilingSide([procs[0]!], cpuPerEstimate[0]),
      note: ({ loptMs, peerMs }) => {
        coreTimes = { core0: peerMs, core1: loptMs };
        const bound = coreBound(coreTimes, false);
        return `2 workers, one a core, can give at most ${bound.toFixed(2)}x the steps/s of 1 worker on the faster core (1 + t_fast/t_slow from the median times; 2x on equal cores); CPU per estimate: ${median(cpuPerEstimate[0]).toFixed(0)} ms on core 0, ${median(cpuPerEstimate[1]).toFixed(0)} ms on core 1${flagsNote()}`;
      },
      dispose: () => {
        for (const p of procs) p.child.kill('SIGTERM');
      },
    };
  },
};

/**
 * The ceiling the distributed row is judged against: the very job a bench worker does
 * per estimate (same estimator, same problems, same truncation, theta decoded and the
 * estimate encoded), in 2 independent processes against 1, with no Redis and no
 * learner. An outer step's worth is 8 estimates: 4 in each of the 2 processes at once,
 * or 8 in the single one, after the same untimed warm-up as the distributed row. What 2
 * processes lose here (a core slower than the other, cores shared with other load, V8's
 * helper threads, which a lone process runs on the idle core) no protocol wins back, but
 * a sync step waits for its last estimate as this row's blocks do, and an async learner
 * does not, so the async row can beat it; the distributed rows' notes say how much of
 * this ceiling's gain they reach.
 */
const ceiling: RatioCase = {
  name: 'distributed outer steps: 2-process ceiling, the worker job in 2 processes vs 1',
  goal: 'reference: >= 1.7x steps/s possible at all?',
  goalRatio: 1 / 1.7,
  peerName: '1 process',
  itersPerBlock: 3,
  blocks: 5,
  warmupIters: WARMUP_STEPS,
  async setup() {
    const pin = process.env.LOPT_BENCH_PIN === '1';
    const cores = availableParallelism();
    const procs = await startAll(
      [
        startCeilingProcess(1, { core: pin ? 0 : undefined }),
        startCeilingProcess(2, { core: pin ? 1 % cores : undefined }),
      ],
      (p) => p.child,
    );
    const cpuTwo: number[] = [];
    const cpuOne: number[] = [];
    return {
      lopt: ceilingSide(procs, cpuTwo),
      peer: ceilingSide([procs[0]!], cpuOne),
      note: ({ loptMs, peerMs }) => {
        ceilingSpeedup = peerMs / loptMs;
        return `2-process ceiling ${ceilingSpeedup.toFixed(2)}x steps/s (ratio of medians); CPU per estimate: ${median(cpuOne).toFixed(0)} ms alone, ${median(cpuTwo).toFixed(0)} ms paired${flagsNote()}${pin ? '; processes pinned to cores' : ''}`;
      },
      dispose: () => {
        for (const p of procs) p.child.kill('SIGTERM');
      },
    };
  },
};

/**
 * The learner's modes, one row each. Sync: each outer step waits for the 8 estimates of
 * its theta, so at the end of a step the worker that finished first idles until the other
 * is done, and both wait while the learner applies the step. Async (staleness 1, as the
 * reference's learner bounds it): the learner applies any 8 estimates at most one version
 * old, each started from the theta current when a worker took its request, and no worker
 * waits.
 */
const distributedWorkers = (mode: 'sync' | 'async'): RatioCase => ({
  name: `distributed outer steps, 2 workers vs 1${mode === 'async' ? ', async (staleness 1)' : ''}`,
  goal: '<= 0.59x (>= 1.7x steps/s)',
  goalRatio: 1 / 1.7,
  peerName: '1 worker',
  itersPerBlock: 3,
  blocks: 5,
  warmupIters: WARMUP_STEPS,
  async setup() {
    if (findRedisServer() === undefined) throw new Error(`skip: redis-server is not installed (${REDIS_INSTALL_HINT})`);
    const pin = process.env.LOPT_BENCH_PIN === '1';
    const cores = availableParallelism();
    const redis = await startRedisServer();
    const two: ChildProcess[] = [];
    const one: ChildProcess[] = [];
    const learners: LearnerProcess[] = [];
    const killAll = () => {
      for (const p of [...two, ...one, ...learners.map((l) => l.child)]) p.kill('SIGKILL');
    };
    // A bench that dies mid-case must not leave workers behind, stopped ones least of all
    // (a stopped process keeps a SIGTERM pending; SIGKILL ends it).
    process.once('exit', killAll);
    const stop = async () => {
      killAll();
      process.off('exit', killAll);
      await redis.stop();
    };
    try {
      // The single worker gets the core of the pair's first worker, so the sides differ only in the second.
      const started = await startAll(
        [
          startBenchWorker(redis.url, `bench-two-${mode}`, 1, { core: pin ? 0 : undefined }),
          startBenchWorker(redis.url, `bench-two-${mode}`, 2, { core: pin ? 1 % cores : undefined }),
          startBenchWorker(redis.url, `bench-one-${mode}`, 3, { core: pin ? 0 : undefined }),
        ],
        (child) => child,
      );
      two.push(started[0]!, started[1]!);
      one.push(started[2]!);
      for (const run of ['bench-two', 'bench-one']) {
        learners.push(await startLearnerProcess(redis.url, `${run}-${mode}`, ESTIMATES_PER_STEP, mode));
      }
    } catch (e) {
      await stop();
      throw e;
    }
    const [learnerTwo, learnerOne] = learners as [LearnerProcess, LearnerProcess];
    const cpuTwo: CpuPerStep = { learner: [], workers: [], steps: 0, staleDropped: 0 };
    const cpuOne: CpuPerStep = { learner: [], workers: [], steps: 0, staleDropped: 0 };
    return {
      lopt: side(learnerTwo, two, cpuTwo, mode === 'async'),
      peer: side(learnerOne, one, cpuOne, mode === 'async'),
      note: ({ loptMs, peerMs }) => {
        // What 2 free cores would give if CPU time were all that counted: the learner's
        // part runs alone, the workers' part is split between them.
        const ideal =
          (median(cpuOne.learner) + median(cpuOne.workers)) / (median(cpuTwo.learner) + median(cpuTwo.workers) / 2);
        const speedup = peerMs / loptMs;
        // The share of the ceiling's gain only means something when there is a gain.
        const share =
          ceilingSpeedup !== undefined && ceilingSpeedup > 1.05
            ? ` (${((100 * (speedup - 1)) / (ceilingSpeedup - 1)).toFixed(0)}% of its gain)`
            : '';
        const ofCeiling =
          ceilingSpeedup === undefined
            ? ''
            : `; ${speedup.toFixed(2)}x steps/s against the 2-process ceiling's ${ceilingSpeedup.toFixed(2)}x measured earlier in this run${share}`;
        const ofCores =
          coreTimes === undefined
            ? ''
            : `${ceilingSpeedup === undefined ? `; ${speedup.toFixed(2)}x steps/s against` : ' and'} the ${coreBound(coreTimes, pin).toFixed(2)}x the cores' speeds allow, measured earlier in this run (1 + ${pin ? 't0/t1 against the lone worker pinned to core 0' : 't_fast/t_slow against a lone worker on the faster core'})`;
        return `2 workers: ${fmtCpu(cpuTwo, loptMs, mode)}; 1 worker: ${fmtCpu(cpuOne, peerMs, mode)}; from CPU time alone, 2 free cores would give ${ideal.toFixed(2)}x${ofCeiling}${ofCores}${flagsNote()}${pin ? '; workers pinned to cores' : ''}`;
      },
      dispose: async () => {
        try {
          for (const w of [...two, ...one]) w.kill('SIGCONT');
          for (const l of learners) await l.finish();
        } finally {
          for (const w of [...two, ...one]) w.kill('SIGTERM');
          process.off('exit', killAll);
          await redis.stop();
        }
      },
    };
  },
});

export default [coreSpeeds, ceiling, distributedWorkers('sync'), distributedWorkers('async')];
