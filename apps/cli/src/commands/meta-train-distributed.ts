import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DistributedLearner,
  type DistributedMode,
  DistributedWorker,
  describeRedis,
  type LocalRedisServer,
  parseRedisUrl,
  REDIS_INSTALL_HINT,
  startRedisServer,
  WORKER_NODE_FLAGS,
} from '@lopt/distributed';
import { type LearnedOptimizer, serializeTheta } from '@lopt/learned';
import { Adam } from '@lopt/optimizers';
import { configFingerprint, type GradientEstimator, GradientLearner } from '@lopt/outer-trainers';
import { fileCheckpointStore } from '@lopt/outer-trainers/node';
import { random } from '@lopt/pytree';
import type { TaskFamily } from '@lopt/tasks';
import { type Command, Option } from 'commander';
import { start } from '../context.js';
import { CliError, oneLine } from '../errors.js';
import { writeFileAtomic } from '../files.js';
import { fmt } from '../fmt.js';
import { canonicalLoptName, makeLearnedOptimizer } from '../optimizer-registry.js';
import { nonNegativeInt, positiveInt } from '../parse.js';
import { claimRunFolder, RUN_FILES, truncateMetrics } from '../run-folder.js';
import { loadTaskFamily } from '../task-registry.js';

// `lopt meta-train` across processes and machines (@lopt/distributed): `--redis URL
// --role learner|worker` runs one side, `--workers N` runs a learner and N workers here.

/** The flags the distributed options add to `meta-train`. */
export interface DistributedFlags {
  redis?: string;
  role?: 'learner' | 'worker';
  workers?: number;
  mode: DistributedMode;
  estimatesPerStep?: number;
  staleness: number;
  run?: string;
  workerIndex?: number;
  lockDuration: number;
}

/** The flags of `meta-train` this file reads (the single-process ones plus the distributed ones). */
export interface DistributedMetaTrainFlags<E extends string = string> extends DistributedFlags {
  lopt: string;
  task: string;
  estimator: E;
  outerSteps?: number;
  tasks: number;
  out?: string;
  resume: boolean;
  force: boolean;
  innerSteps: number;
  truncLength: number;
  std: number;
  outerLr?: number;
  checkpointEvery: number;
  logEvery: number;
}

/** The run's configuration, as the single-process form defines it (what must match for `--resume`). */
export interface DistributedRunConfig<E extends string = string> {
  lopt: string;
  task: string;
  estimator: E;
  tasks: number;
  innerSteps: number;
  truncLength: number;
  std: number;
  outerLr: number;
  seed: number;
}

/** What the distributed forms take from the single-process one, so both build the same run. */
export interface MetaTrainParts<E extends string = string> {
  /** Builds the estimator of a worker's inner problems. */
  buildEstimator<Theta>(
    cfg: DistributedRunConfig<E>,
    family: TaskFamily,
    lopt: LearnedOptimizer<Theta>,
  ): GradientEstimator<Theta>;
  /** The outer learning rate `--outer-lr` defaults to for a learned optimizer. */
  defaultOuterLr(lopt: LearnedOptimizer): number;
}

function nonNegative(value: string): number {
  return nonNegativeInt(value);
}

/**
 * Adds the distributed flags to `meta-train`. `--out` and `--outer-steps` become
 * optional for commander (a worker needs neither); `runDistributedIfAsked` checks them
 * for every other use.
 */
export function addDistributedOptions(cmd: Command): Command {
  for (const o of cmd.options) if (o.long === '--out' || o.long === '--outer-steps') o.mandatory = false;
  return cmd
    .option('--redis <url>', 'meta-train across processes and machines through this Redis server (redis://host:port)')
    .addOption(
      new Option(
        '--role <role>',
        'with --redis: run the learner (holds theta, writes --out) or a worker (computes estimates)',
      ).choices(['learner', 'worker']),
    )
    .option(
      '--workers <n>',
      'run a learner and n worker processes here (against --redis, or a redis-server started on loopback)',
      positiveInt,
    )
    .addOption(
      new Option(
        '--mode <mode>',
        'distributed: sync (N estimates of the current theta per step) or async (any N within --staleness; no worker waits for another)',
      )
        .choices(['sync', 'async'])
        .default('sync'),
    )
    .option(
      '--estimates-per-step <n>',
      'distributed: estimates averaged per outer step (default: --workers, else 1)',
      positiveInt,
    )
    .option('--staleness <n>', 'async mode: estimates of a theta more than n steps old are dropped', nonNegative, 1)
    .option(
      '--run <name>',
      'distributed: the run name learner and workers share (default: derived from the configuration)',
    )
    .option('--worker-index <i>', 'worker: its index, from which its seed derives (default: random)', nonNegative)
    .option(
      '--lock-duration <ms>',
      'worker: a request of a dead worker is taken over after this long; must exceed one estimate',
      positiveInt,
      60_000,
    )
    .addHelpText(
      'after',
      `
Distributed meta-training (Redis; Debian: apt-get install redis-server):
  lopt meta-train --lopt LearnableAdam --task FixedDimQuadraticFamily --outer-steps 30 --out runs/q --workers 2   # a learner and 2 workers here
  lopt meta-train --lopt LearnableAdam --task FixedDimQuadraticFamily --outer-steps 200 --out runs/q --redis redis://redis-host:6379 --role learner
  lopt meta-train --lopt LearnableAdam --task FixedDimQuadraticFamily --redis redis://redis-host:6379 --role worker   # on every worker machine`,
    );
}

function checkRequired(flags: DistributedMetaTrainFlags): void {
  if (flags.out === undefined) throw new CliError("required option '--out <dir>' not specified");
  if (flags.outerSteps === undefined) throw new CliError("required option '--outer-steps <n>' not specified");
}

/**
 * Runs the distributed forms of `meta-train` when their flags are given and returns
 * true; otherwise checks the flags the single-process form needs and returns false.
 */
export async function runDistributedIfAsked<E extends string>(
  flags: DistributedMetaTrainFlags<E>,
  cmd: Command,
  parts: MetaTrainParts<E>,
): Promise<boolean> {
  const distributed = flags.redis !== undefined || flags.role !== undefined || flags.workers !== undefined;
  if (!distributed) {
    checkRequired(flags);
    return false;
  }
  if (flags.workers !== undefined && flags.role !== undefined)
    throw new CliError(
      '--workers runs both roles here; drop --role (or drop --workers and run each role with --redis)',
    );
  if (flags.role !== undefined && flags.redis === undefined)
    throw new CliError(`--role ${flags.role} needs --redis URL (the server learner and workers share)`);
  if (flags.redis !== undefined && flags.role === undefined && flags.workers === undefined) {
    throw new CliError('--redis needs --role learner or --role worker (or --workers N to run both here)');
  }
  if (flags.redis !== undefined) {
    try {
      parseRedisUrl(flags.redis);
    } catch (e) {
      throw new CliError(`--redis: ${oneLine(e)}`);
    }
  }
  if (flags.resume && flags.force)
    throw new CliError('give --resume (continue the run in --out) or --force (replace it), not both');
  if (flags.role === 'worker') await workerRole(flags, cmd, parts);
  else {
    checkRequired(flags);
    if (flags.workers !== undefined) await supervise(flags, cmd);
    else await learnerRole(flags, cmd, parts);
  }
  return true;
}

/** What defines the estimators and theta: workers and learner must agree on it. */
function estimatorConfig<E extends string>(flags: DistributedMetaTrainFlags<E>) {
  return {
    lopt: canonicalLoptName(flags.lopt),
    task: flags.task,
    estimator: flags.estimator,
    tasks: flags.tasks,
    innerSteps: flags.innerSteps,
    truncLength: Math.min(flags.truncLength, flags.innerSteps),
    std: flags.std,
  };
}

function runName<E extends string>(flags: DistributedMetaTrainFlags<E>): string {
  return flags.run ?? `lopt-${configFingerprint(estimatorConfig(flags)).slice(0, 12)}`;
}

/** The run's configuration: the estimators' and the outer learning rate, defaulted as the single-process form does. */
function runConfig<E extends string>(
  flags: DistributedMetaTrainFlags<E>,
  parts: MetaTrainParts<E>,
  lopt: LearnedOptimizer,
  seed: number,
): DistributedRunConfig<E> {
  return { ...estimatorConfig(flags), outerLr: flags.outerLr ?? parts.defaultOuterLr(lopt), seed };
}

async function workerRole<E extends string>(
  flags: DistributedMetaTrainFlags<E>,
  cmd: Command,
  parts: MetaTrainParts<E>,
): Promise<void> {
  const { g, out } = await start(cmd);
  const lopt = makeLearnedOptimizer(canonicalLoptName(flags.lopt));
  const cfg = runConfig(flags, parts, lopt, g.seed);
  const { family } = await loadTaskFamily(flags.task, g);
  const estimator = parts.buildEstimator(cfg, family, lopt);
  const index = flags.workerIndex ?? random.randintArray(random.PRNGKey(Date.now() % 2 ** 31), 1, 0, 2 ** 30)[0]!;
  const seed = random.foldIn(random.PRNGKey(g.seed), index)[1]! >>> 1;
  const run = runName(flags);
  const worker = new DistributedWorker({
    connection: flags.redis!,
    run,
    gradientEstimators: [estimator],
    seed,
    lockDurationMs: flags.lockDuration,
    onEstimate: (e) => {
      if (e.version % flags.logEvery === 0)
        out.log(`estimate for outer step ${e.version}: meta-loss ${fmt(e.meanLoss)} (${e.seconds.toFixed(2)} s)`);
    },
  });
  const onSignal = () => {
    void worker.close();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  out.log(`worker ${worker.workerId} (index ${index}) serving run '${run}' on ${describeRedis(flags.redis!)}`);
  // Workers started by hand (--role worker on another machine) may lack the flags that
  // `--workers N` gives its own; say how to start them when they fill the cores.
  const missing = WORKER_NODE_FLAGS.filter((f) => !process.execArgv.includes(f));
  if (missing.length > 0)
    out.log(
      `tip: workers that fill the machine's cores run faster started as node ${missing.join(' ')} ${process.argv[1]} meta-train ... (V8's garbage collection on the worker's own thread)`,
    );
  const summary = await worker.run();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  out.result(`worker done: ${summary.estimates} estimates sent, ${summary.skipped} requests skipped`, {
    event: 'worker-done',
    run,
    ...summary,
  });
}

async function learnerRole<E extends string>(
  flags: DistributedMetaTrainFlags<E>,
  cmd: Command,
  parts: MetaTrainParts<E>,
): Promise<void> {
  const { g, out } = await start(cmd);
  // The same claim as the single-process form: locked against other runs, a folder with
  // another run's results refused unless --force; --resume continues from its checkpoint
  // (a learner restarted after a kill takes its own stale lock over).
  const { files } = claimRunFolder({
    out: flags.out!,
    resume: flags.resume,
    force: flags.force,
    command: 'meta-train --role learner',
    warn: (m) => out.warn(m),
  });
  const lopt = makeLearnedOptimizer(canonicalLoptName(flags.lopt));
  const cfg = runConfig(flags, parts, lopt, g.seed);
  // The learner builds no inner problems, but checks that the workers' configuration is valid.
  const { family } = await loadTaskFamily(flags.task, g);
  parts.buildEstimator(cfg, family, lopt);
  const n = flags.estimatesPerStep ?? 1;
  const run = runName(flags);
  const learner = new DistributedLearner({
    connection: flags.redis!,
    run,
    learner: new GradientLearner(lopt, new Adam(cfg.outerLr), { numSteps: flags.outerSteps }),
    seed: g.seed,
    numSteps: flags.outerSteps!,
    config: cfg,
    mode: flags.mode,
    estimatesPerStep: n,
    staleness: flags.staleness,
    store: fileCheckpointStore(files.checkpoint),
    checkpointEvery: flags.checkpointEvery,
  });
  let stop: string | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stop) process.exit(130);
    stop = sig;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await learner.start();
  } catch (e) {
    await learner.close();
    throw new CliError(
      flags.resume ? `cannot resume from '${join(flags.out!, RUN_FILES.checkpoint)}': ${oneLine(e)}` : oneLine(e),
    );
  }
  if (learner.resumedFrom > 0) {
    out.log(`resuming from the checkpoint at outer step ${learner.resumedFrom}`);
    // Steps after the checkpoint are run again; their earlier lines go.
    truncateMetrics(files.metrics, learner.resumedFrom);
  } else writeFileAtomic(files.metrics, '');
  writeFileAtomic(
    files.config,
    `${JSON.stringify({ ...cfg, outerSteps: flags.outerSteps, distributed: { run, mode: flags.mode, estimatesPerStep: n, staleness: flags.staleness } }, null, 2)}\n`,
  );
  out.log(
    `learner of run '${run}' on ${describeRedis(flags.redis!)}: ${flags.lopt} on ${flags.task} with ${flags.estimator}, ${flags.mode} mode, ${n} estimate(s) per outer step, until outer step ${flags.outerSteps}, into ${flags.out}`,
  );
  const bar = out.progress(flags.outerSteps!, 'meta-train', 'step');
  bar.update(learner.outerIteration);
  const t0 = Date.now();
  const losses: number[] = [];
  try {
    while (learner.outerIteration < flags.outerSteps! && !stop) {
      const step = learner.outerIteration;
      let r: { loss: number; metrics: Record<string, number> };
      try {
        r = await learner.outerStep();
      } catch (e) {
        throw new CliError(`outer step ${step} failed: ${oneLine(e)}`);
      }
      losses.push(r.loss);
      const record = { step, loss: r.loss, metrics: r.metrics, time: new Date().toISOString() };
      appendFileSync(
        files.metrics,
        `${JSON.stringify(record, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v))}\n`,
      );
      out.record(record);
      if (step % flags.logEvery === 0 || step === flags.outerSteps! - 1) {
        out.log(
          `outer step ${step}: meta-loss ${fmt(r.loss)} (${r.metrics.uniqueWorkers} worker(s), staleness ${r.metrics.maxStaleness})`,
        );
      }
      bar.update(learner.outerIteration, `meta-loss ${r.loss.toPrecision(4)}`);
    }
    if (stop) {
      // Workers keep waiting: a learner started again with --resume carries on with them.
      learner.checkpoint();
    } else {
      await learner.finish();
    }
    writeFileAtomic(files.theta, serializeTheta(learner.getMetaParams(), lopt));
  } finally {
    bar.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await learner.close();
  }
  const seconds = (Date.now() - t0) / 1000;
  const summary = {
    event: stop ? 'interrupted' : 'done',
    run,
    outerSteps: learner.outerIteration,
    resumedFrom: learner.resumedFrom,
    finalLoss: losses.length > 0 ? losses[losses.length - 1] : null,
    seconds,
    totals: learner.totals,
    checkpoint: files.checkpoint,
    theta: files.theta,
    metrics: files.metrics,
  };
  const t = learner.totals;
  const text = stop
    ? `interrupted at outer step ${learner.outerIteration}: checkpoint and theta written to ${flags.out} (continue with --resume)`
    : `done: ${learner.outerIteration} outer steps${learner.resumedFrom ? ` (resumed from ${learner.resumedFrom})` : ''}, last meta-loss ${summary.finalLoss == null ? '-' : fmt(summary.finalLoss)}, ${seconds.toFixed(1)} s; ${t.applied} estimates applied, ${t.staleDropped} stale, ${t.lateDropped} late and ${t.duplicatesDropped} duplicate ones dropped, ${t.requeued} requests sent again; theta in ${join(flags.out!, RUN_FILES.theta)}`;
  out.result(text, summary);
  if (stop) process.exitCode = 130;
}

/** The command line of a child: this one without --workers, with the role, the server and `extra`. */
function childArgs(role: 'learner' | 'worker', url: string, extra: string[]): string[] {
  const args: string[] = [];
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--workers' || a === '--redis' || a === '--worker-index') {
      i += 1;
      continue;
    }
    if (a.startsWith('--workers=') || a.startsWith('--redis=') || a.startsWith('--worker-index=')) continue;
    args.push(a);
  }
  return [process.argv[1]!, ...args, '--redis', url, '--role', role, ...extra];
}

/** How often a child that dies is started again before the run gives up. */
const MAX_RESTARTS = 3;

/**
 * `--workers N`: starts a redis-server on loopback unless `--redis` is given, then a
 * learner and N worker processes; a child that dies is started again (the learner with
 * --resume, from its checkpoint), and everything is stopped when the learner is done.
 */
async function supervise(flags: DistributedMetaTrainFlags, cmd: Command): Promise<void> {
  const { out } = await start(cmd, false);
  const n = flags.workers!;
  let server: LocalRedisServer | undefined;
  let url = flags.redis;
  if (url === undefined) {
    try {
      server = await startRedisServer();
    } catch (e) {
      const msg = oneLine(e);
      throw new CliError(
        msg.includes('not found')
          ? `redis-server was not found on PATH; ${REDIS_INSTALL_HINT} with --redis URL`
          : `cannot start redis-server: ${msg}`,
      );
    }
    url = server.url;
    out.log(`started redis-server on ${url}`);
  }
  const extraLearner = flags.estimatesPerStep === undefined ? ['--estimates-per-step', String(n)] : [];
  const children = new Map<string, ChildProcess>();
  let finished = false;
  let interrupted = false;
  const restarts = new Map<string, number>();
  let learnerExit: (code: number) => void = () => {};
  const learnerDone = new Promise<number>((r) => {
    learnerExit = r;
  });
  const launch = (name: string, args: string[], resume: boolean) => {
    // A restarted learner continues its own run: --resume, and never --force (which would wipe it).
    const finalArgs = resume ? [...args.filter((a) => a !== '--force' && a !== '--resume'), '--resume'] : args;
    // Workers' stdout goes to stderr: stdout carries the learner's output (JSON lines with --json).
    const nodeFlags = name === 'learner' ? [] : WORKER_NODE_FLAGS;
    const child = spawn(process.execPath, [...nodeFlags, ...finalArgs], {
      stdio: ['ignore', name === 'learner' ? 'inherit' : process.stderr, 'inherit'],
    });
    children.set(name, child);
    child.on('exit', (code, signal) => {
      children.delete(name);
      if (name === 'learner' && (code === 0 || code === 130 || interrupted)) {
        learnerExit(code ?? 1);
        return;
      }
      if (finished || interrupted) return;
      if (name !== 'learner' && code === 0) return; // the run is done
      if (signal === null) {
        // An error of its own (it printed why): starting it again would fail the same way.
        out.warn(`${name} failed (exit code ${code})`);
        if (name === 'learner') learnerExit(code ?? 1);
        return;
      }
      const count = (restarts.get(name) ?? 0) + 1;
      restarts.set(name, count);
      if (count > MAX_RESTARTS) {
        out.warn(`${name} died ${count} times (last: ${signal ?? `exit code ${code}`}); giving up`);
        if (name === 'learner') learnerExit(code ?? 1);
        return;
      }
      out.warn(
        `${name} ended (${signal ?? `exit code ${code}`}); starting it again${name === 'learner' ? ' from its checkpoint' : ''}`,
      );
      launch(name, args, name === 'learner');
    });
  };
  const onSignal = () => {
    interrupted = true;
    children.get('learner')?.kill('SIGINT');
    for (const [name, c] of children) if (name !== 'learner') c.kill('SIGTERM');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    for (let i = 0; i < n; i++) launch(`worker ${i}`, childArgs('worker', url, ['--worker-index', String(i)]), false);
    launch('learner', childArgs('learner', url, extraLearner), false);
    const code = await learnerDone;
    finished = true;
    // Workers stop by themselves once the learner marks the run done; those still busy
    // get a moment, then SIGTERM (they finish their estimate), then SIGKILL.
    const wait = async (ms: number) => {
      const deadline = Date.now() + ms;
      while (children.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    };
    await wait(5000);
    for (const c of children.values()) c.kill('SIGTERM');
    await wait(15_000);
    for (const c of children.values()) c.kill('SIGKILL');
    if (code !== 0) process.exitCode = code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const c of children.values()) c.kill('SIGKILL');
    await server?.stop();
  }
}
