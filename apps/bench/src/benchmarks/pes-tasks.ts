/**
 * One PES outer step (learned_optimization's Part 5 setup: a learned optimizer
 * meta-trained with TruncatedPES, truncation length 10, LogUniform(100, 300)
 * truncations, outer Adam) on ImageMLP_FashionMnist8_Relu32, with 8 inner problems
 * against 1, for each learned optimizer with a K-problem path (MLPLOpt, AdafacMLPLOpt,
 * LearnableAdam): on one thread (the 8 problems stacked), and split over 2 threads
 * (`ThreadedGradientEstimator`: 4 problems on the calling thread, 4 in a worker thread).
 * A third case per optimizer times the 2-thread step against the 1-thread one: what the
 * second thread buys. Setup also prints outer steps per second and peak RSS for 1, 4, 8
 * and 16 problems, on one thread and on two (`LOPT_BENCH_PES_SWEEP=off` skips it; the
 * reference's Part 5 notebook reports about 13 outer steps/s for 4 problems with
 * truncation length 50, hardware unstated).
 */
import { packTree, ThreadedGradientEstimator, unpackTree } from '@lopt/distributed';
import { Adam } from '@lopt/optimizers';
import {
  disposeExcept,
  type GradientEstimator,
  SingleMachineGradientLearner,
  type SingleMachineState,
} from '@lopt/outer-trainers';
import { random } from '@lopt/pytree';
import type { RatioCase } from '../harness.js';
import { CpuTimed, type LoptName, makeLopt, pesEstimatorOf, pesFamily, threadCpuSeconds } from '../pes-estimator.js';

type Family = Awaited<ReturnType<typeof pesFamily>>;

const estimatorModule = new URL('../pes-estimator.ts', import.meta.url).href;

/** Time spent by a runner's steps: process CPU (every thread), wall, and the threaded estimator's parts (seconds, summed). */
interface Usage {
  cpu: number;
  /** CPU of the calling thread alone (Linux; NaN elsewhere): with threads, the step's critical path. */
  mainCpu: number;
  wall: number;
  steps: number;
  parts: {
    localShardSeconds: number;
    threadComputeSeconds: number;
    threadWaitSeconds: number;
    threadCpuSeconds: number;
  };
}

/** A runner of outer steps, with the process CPU time its steps took. */
interface Runner {
  step(): void;
  dispose(): Promise<void>;
  /** Process CPU seconds (every thread) and wall seconds over the steps so far. */
  usage: Usage;
  /** What sending the last shard's state to its thread and back costs per step: bytes each way, ms to pack and unpack both ways. */
  transferCost(): { bytes: number; ms: number } | undefined;
}

/** A PES learner over `numTasks` problems: in-process, or split over `threads` threads (this one and workers). */
async function pesRunner(family: Family, numTasks: number, name: LoptName, threads = 1): Promise<Runner> {
  const lopt = makeLopt(name);
  let threaded: ThreadedGradientEstimator | undefined;
  let estimator: GradientEstimator;
  if (threads > 1) {
    threaded = await ThreadedGradientEstimator.create({
      estimator: {
        module: estimatorModule,
        exportName: 'pesEstimatorCpuTimed',
        args: { lopt: name, numTasks: numTasks / threads },
      },
      shards: threads,
    });
    estimator = threaded;
  } else {
    estimator = new CpuTimed(pesEstimatorOf(family, lopt, numTasks) as never);
  }
  const learner = new SingleMachineGradientLearner(lopt, [estimator], new Adam(1e-3));
  let state: SingleMachineState<unknown> = learner.init(random.PRNGKey(0)) as SingleMachineState<unknown>;
  let i = 0;
  const usage: Usage = {
    cpu: 0,
    mainCpu: 0,
    wall: 0,
    steps: 0,
    parts: { localShardSeconds: 0, threadComputeSeconds: 0, threadWaitSeconds: 0, threadCpuSeconds: 0 },
  };
  return {
    usage,
    step: () => {
      const c0 = process.cpuUsage();
      const m0 = threadCpuSeconds();
      const t0 = performance.now();
      const up = learner.update(state as never, random.PRNGKey(++i));
      state = up.state as SingleMachineState<unknown>;
      for (const [k, v] of Object.entries(up.metrics)) {
        const part = k.split('/').at(-1)!;
        if (part in usage.parts) usage.parts[part as keyof typeof usage.parts] += v;
      }
      usage.steps += 1;
      const c = process.cpuUsage(c0);
      usage.cpu += (c.user + c.system) / 1e6;
      usage.mainCpu += threadCpuSeconds() - m0;
      usage.wall += (performance.now() - t0) / 1000;
    },
    transferCost: () => {
      if (!threaded) return undefined;
      const shardStates = state.gradientEstimatorStates[0] as unknown[];
      const n = 5;
      let bytes = 0;
      const t0 = performance.now();
      for (let j = 0; j < n; j++) {
        const transfer: ArrayBuffer[] = [];
        // This thread packs the shard's state out and unpacks its next state back each step.
        const back = unpackTree(packTree(shardStates.at(-1), transfer));
        bytes = transfer.reduce((a, b) => a + b.byteLength, 0);
        disposeExcept(back);
      }
      return { bytes, ms: (performance.now() - t0) / n };
    },
    dispose: async () => {
      disposeExcept(state);
      await threaded?.dispose();
    },
  };
}

function resetUsage(...runners: Runner[]): void {
  for (const r of runners) {
    Object.assign(r.usage, { cpu: 0, mainCpu: 0, wall: 0, steps: 0 });
    for (const k of Object.keys(r.usage.parts)) r.usage.parts[k as keyof Usage['parts']] = 0;
  }
}

const cores = (u: { cpu: number; wall: number }) => (u.wall > 0 ? u.cpu / u.wall : 0);

/** Prints outer steps per second (and the process's peak RSS) for 1, 4, 8 and 16 tasks, on 1 and 2 threads. */
async function sweep(family: Family, name: LoptName): Promise<void> {
  for (const threads of [1, 2]) {
    for (const k of [1, 4, 8, 16]) {
      if (k % threads !== 0) continue;
      const r = await pesRunner(family, k, name, threads);
      r.step();
      let peak = process.memoryUsage().rss;
      const t0 = performance.now();
      const n = 3;
      resetUsage(r);
      for (let i = 0; i < n; i++) {
        r.step();
        peak = Math.max(peak, process.memoryUsage().rss);
      }
      const perSecond = n / ((performance.now() - t0) / 1000);
      process.stderr.write(
        `  PES ${name}, ${k} task(s), ${threads} thread(s): ${perSecond.toFixed(2)} outer steps/s, ${cores(r.usage).toFixed(2)} cores busy, ${((1000 * r.usage.cpu) / n).toFixed(0)} process CPU ms/step (calling thread ${((1000 * r.usage.mainCpu) / n).toFixed(0)}), peak RSS ${(peak / 2 ** 20).toFixed(0)} MB (truncation length 10)\n`,
      );
      await r.dispose();
    }
  }
}

/** Lets a case's blocks say how many cores each side kept busy (process CPU / wall time). */
function coresNote(lopt: Runner, peer: Runner, loptName: string, peerName: string) {
  return () => {
    const per = (u: Usage, s: number) => ((1000 * s) / Math.max(1, u.steps)).toFixed(0);
    const cpu = (u: Usage) =>
      `${per(u, u.cpu)} ms (calling thread ${per(u, u.mainCpu)}, estimator ${per(u, u.parts.threadCpuSeconds)} per shard)`;
    const u = lopt.usage;
    const parts =
      u.parts.threadComputeSeconds > 0
        ? `; wall per step: shard here ${per(u, u.parts.localShardSeconds)} ms, shard in thread ${per(u, u.parts.threadComputeSeconds)} ms, then waited ${per(u, u.parts.threadWaitSeconds)} ms`
        : '';
    return `cores busy: ${loptName} ${cores(u).toFixed(2)}, ${peerName} ${cores(peer.usage).toFixed(2)}; process CPU per step: ${loptName} ${cpu(u)}, ${peerName} ${cpu(peer.usage)}${parts}`;
  };
}

/**
 * The goal for every learned optimizer with a K-problem path: 8 tasks cost at most 3x
 * one task. With 1 task the inner problem runs the single-problem optimizer (its fused
 * kernels where it has them); with 8, one batched loss and `vectorizedOptFn`'s step.
 */
const pesCase = (name: LoptName): RatioCase => ({
  name: `PES outer step, 8 tasks vs 1 task (${name})`,
  goal: '<= 3x',
  goalRatio: 3,
  peerName: '1 task',
  itersPerBlock: 3,
  blocks: 3,
  async setup() {
    const family = await pesFamily();
    if (process.env.LOPT_BENCH_PES_SWEEP !== 'off') await sweep(family, name);
    const eight = await pesRunner(family, 8, name);
    const one = await pesRunner(family, 1, name);
    // First steps separate the shared initial pos/neg states and warm the kernels.
    eight.step();
    one.step();
    resetUsage(eight, one);
    return {
      lopt: () => eight.step(),
      peer: () => one.step(),
      note: coresNote(eight, one, '8 tasks', '1 task'),
      dispose: async () => {
        await eight.dispose();
        await one.dispose();
      },
    };
  },
});

/**
 * The same goal with the 8 tasks split over 2 threads (`ThreadedGradientEstimator`, 4
 * on the calling thread and 4 in a worker thread), against 1 task on one thread. Each
 * call sends the worker's shard state (its inner problems and PES accumulators) there
 * and back, so the caller keeps it as data.
 */
const threadedCase = (name: LoptName): RatioCase => ({
  name: `PES outer step, 8 tasks on 2 threads vs 1 task (${name})`,
  goal: '<= 3x',
  goalRatio: 3,
  peerName: '1 task',
  itersPerBlock: 3,
  blocks: 3,
  async setup() {
    const family = await pesFamily();
    const eight = await pesRunner(family, 8, name, 2);
    const one = await pesRunner(family, 1, name);
    eight.step();
    one.step();
    const cost = eight.transferCost()!;
    process.stderr.write(
      `  ${name}: the worker thread's shard state is ${(cost.bytes / 1024).toFixed(0)} KB; packing and unpacking it takes ${cost.ms.toFixed(2)} ms per step on this thread (the thread pays as much)\n`,
    );
    resetUsage(eight, one);
    return {
      lopt: () => eight.step(),
      peer: () => one.step(),
      note: coresNote(eight, one, '8 tasks on 2 threads', '1 task'),
      dispose: async () => {
        await eight.dispose();
        await one.dispose();
      },
    };
  },
});

/** What the second thread buys: 8 tasks on 2 threads against the same 8 stacked on one (lower is better). */
const threadsGainCase = (name: LoptName): RatioCase => ({
  name: `PES outer step, 8 tasks: 2 threads vs 1 thread (${name})`,
  goal: '< 1x',
  goalRatio: 1,
  peerName: '8 tasks, 1 thread',
  itersPerBlock: 3,
  blocks: 3,
  async setup() {
    const family = await pesFamily();
    const two = await pesRunner(family, 8, name, 2);
    const one = await pesRunner(family, 8, name);
    two.step();
    one.step();
    resetUsage(two, one);
    return {
      lopt: () => two.step(),
      peer: () => one.step(),
      note: coresNote(two, one, '2 threads', '1 thread'),
      dispose: async () => {
        await two.dispose();
        await one.dispose();
      },
    };
  },
});

const names: LoptName[] = ['MLPLOpt', 'AdafacMLPLOpt', 'LearnableAdam'];
export default [...names.map(pesCase), ...names.map(threadedCase), ...names.map(threadsGainCase)];
