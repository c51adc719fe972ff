import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LearnedOptimizer } from '@lopt/learned';
import { Adam } from '@lopt/optimizers';
import {
  ConstantTruncationSchedule,
  configFingerprint,
  deserializeCheckpoint,
  disposeExcept,
  FullES,
  FullGrad,
  type GradientEstimator,
  metricsLine,
  NeverEndingTruncationSchedule,
  type SingleMachineState,
  SingleMachineGradientLearner,
  serializeCheckpoint,
  TruncatedES,
  TruncatedGrad,
  TruncatedPES,
  VectorizedLOptTruncatedStep,
} from '@lopt/outer-trainers';
import { type PRNGKey, random } from '@lopt/pytree';
import type { TaskFamily } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import { Command, Option } from 'commander';
import { start } from '../context.js';
import { fmt } from '../fmt.js';
import { CliError, oneLine } from '../errors.js';
import { ensureWritableDir, writeFileAtomic } from '../files.js';
import { canonicalLoptName, makeLearnedOptimizer } from '../optimizer-registry.js';
import { positiveInt, positiveNumber } from '../parse.js';
import { loadTaskFamily } from '../task-registry.js';
import { addDistributedOptions, runDistributedIfAsked } from './meta-train-distributed.js';
import { saveThetaFile } from '../theta-file.js';
import { thetaSummary } from '../theta-summary.js';

/** The gradient estimators `--estimator` names. */
export const ESTIMATORS = ['pes', 'es', 'tes', 'tgrad', 'fullgrad', 'unroll'] as const;
type EstimatorName = (typeof ESTIMATORS)[number];

/** Files of a meta-training folder. */
export const RUN_FILES = {
  metrics: 'metrics.jsonl',
  checkpoint: 'checkpoint.json',
  theta: 'theta.json',
  config: 'run.json',
} as const;

interface MetaTrainFlags {
  lopt: string;
  task: string;
  estimator: EstimatorName;
  outerSteps: number;
  tasks: number;
  out: string;
  resume: boolean;
  innerSteps: number;
  truncLength: number;
  std: number;
  outerLr: number;
  checkpointEvery: number;
  logEvery: number;
}

/** The run's configuration: what must match for `--resume` (not the number of outer steps). */
interface RunConfig {
  lopt: string;
  task: string;
  estimator: EstimatorName;
  tasks: number;
  innerSteps: number;
  truncLength: number;
  std: number;
  outerLr: number;
  seed: number;
}

function buildEstimator<Theta>(
  cfg: RunConfig,
  family: TaskFamily,
  lopt: LearnedOptimizer<Theta>,
): GradientEstimator<Theta> {
  if (cfg.truncLength > cfg.innerSteps) {
    throw new CliError(`--trunc-length (${cfg.truncLength}) must not exceed --inner-steps (${cfg.innerSteps})`);
  }
  const full = ['es', 'fullgrad', 'unroll'].includes(cfg.estimator);
  if (!full && cfg.innerSteps % cfg.truncLength !== 0) {
    throw new CliError(`--inner-steps (${cfg.innerSteps}) must be a multiple of --trunc-length (${cfg.truncLength})`);
  }
  const schedule = new ConstantTruncationSchedule(cfg.innerSteps);
  // Full-unroll estimators decide the unroll length themselves; the step never truncates.
  const step = new VectorizedLOptTruncatedStep(family, lopt, full ? new NeverEndingTruncationSchedule() : schedule, cfg.tasks);
  const L = cfg.truncLength;
  switch (cfg.estimator) {
    case 'pes':
      return new TruncatedPES(step, { truncLength: L, stepsPerJit: L, std: cfg.std });
    case 'tes':
      return new TruncatedES(step, { unrollLength: L, stepsPerJit: L, std: cfg.std });
    case 'tgrad':
      return new TruncatedGrad(step, { unrollLength: L, stepsPerJit: L });
    case 'es':
      return new FullES(step, schedule, { std: cfg.std, stepsPerJit: cfg.innerSteps });
    case 'fullgrad':
      return new FullGrad(step, schedule, { lossType: 'avg' });
    case 'unroll':
      return new FullGrad(step, schedule, { lossType: 'last' });
  }
}

/** Keeps the metrics lines of steps before `step` (a resumed run rewrites the rest). */
function truncateMetrics(path: string, step: number): void {
  if (!existsSync(path)) return;
  const kept = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => {
      if (!l.trim()) return false;
      try {
        return (JSON.parse(l) as { step: number }).step < step;
      } catch {
        return false; // a line torn by a kill
      }
    });
  writeFileAtomic(path, kept.map((l) => `${l}\n`).join(''));
}

const tick = () => new Promise<void>((r) => setImmediate(r));

async function metaTrainAction(flags: MetaTrainFlags, cmd: Command): Promise<void> {
  if (await runDistributedIfAsked(flags as never, cmd, buildEstimator as never)) return;
  const { g, out } = await start(cmd);
  const dir = ensureWritableDir(flags.out);
  const files = {
    metrics: join(dir, RUN_FILES.metrics),
    checkpoint: join(dir, RUN_FILES.checkpoint),
    theta: join(dir, RUN_FILES.theta),
    config: join(dir, RUN_FILES.config),
  };
  if (!flags.resume && existsSync(files.checkpoint)) {
    throw new CliError(`'${flags.out}' already holds a run (${RUN_FILES.checkpoint}); pass --resume to continue it, or choose another --out`);
  }
  const cfg: RunConfig = {
    lopt: canonicalLoptName(flags.lopt),
    task: flags.task,
    estimator: flags.estimator,
    tasks: flags.tasks,
    innerSteps: flags.innerSteps,
    truncLength: Math.min(flags.truncLength, flags.innerSteps),
    std: flags.std,
    outerLr: flags.outerLr,
    seed: g.seed,
  };
  const lopt = makeLearnedOptimizer(cfg.lopt);
  const family = await loadTaskFamily(flags.task, g);
  const estimator = buildEstimator(cfg, family, lopt);
  const learner = new SingleMachineGradientLearner(lopt, [estimator], new Adam(cfg.outerLr), { numSteps: flags.outerSteps });
  const fingerprint = configFingerprint(cfg);
  const runKey: PRNGKey = random.PRNGKey(g.seed);

  let state: SingleMachineState<unknown>;
  let step = 0;
  const text = flags.resume && existsSync(files.checkpoint) ? readFileSync(files.checkpoint, 'utf8') : undefined;
  if (text !== undefined) {
    const fresh = learner.init(random.split(runKey)[0]!);
    try {
      const ckpt = deserializeCheckpoint<unknown>(text, { fingerprint, thetaTemplate: learner.getMetaParams(fresh) });
      state = ckpt.state;
      step = ckpt.outerIteration;
    } catch (e) {
      throw new CliError(`cannot resume from '${join(flags.out, RUN_FILES.checkpoint)}': ${oneLine(e)}`);
    } finally {
      disposeExcept(fresh);
    }
    truncateMetrics(files.metrics, step);
    out.log(`resuming from the checkpoint at outer step ${step}`);
  } else {
    if (flags.resume) out.warn(`no checkpoint in '${flags.out}': starting a fresh run`);
    state = learner.init(random.split(runKey)[0]!);
    writeFileAtomic(files.metrics, '');
  }
  writeFileAtomic(files.config, `${JSON.stringify({ ...cfg, outerSteps: flags.outerSteps, fingerprint }, null, 2)}\n`);
  const resumedFrom = step;

  const save = () => {
    writeFileAtomic(files.checkpoint, serializeCheckpoint({ state, outerIteration: step, key: runKey, fingerprint, extra: { config: cfg } }));
  };
  let stop: string | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stop) process.exit(130); // a second Ctrl-C does not wait
    stop = sig;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  out.log(
    `meta-training ${flags.lopt} on ${flags.task} with ${flags.estimator} (${cfg.tasks} tasks, ${cfg.innerSteps} inner steps, truncations of ${cfg.truncLength}) for ${flags.outerSteps} outer steps into ${flags.out}`,
  );
  const bar = out.progress(flags.outerSteps, 'meta-train', 'step');
  bar.update(step);
  const t0 = Date.now();
  const losses: number[] = [];
  try {
    while (step < flags.outerSteps && !stop) {
      let upd: ReturnType<typeof learner.update>;
      try {
        upd = learner.update(state, random.foldIn(runKey, step));
      } catch (e) {
        throw new CliError(`outer step ${step} failed: ${oneLine(e)}`);
      }
      state = upd.state;
      losses.push(upd.loss);
      const theta = thetaSummary(learner.getMetaParams(state));
      const line = metricsLine({ step, loss: upd.loss, metrics: upd.metrics, time: new Date().toISOString() });
      // Live tensors after the step: constant from step to step unless something leaks.
      const record = { ...(JSON.parse(line) as object), theta, numTensors: tf.memory().numTensors };
      const json = `${JSON.stringify(record)}\n`;
      appendFileSync(files.metrics, json);
      out.record(record);
      if (step % flags.logEvery === 0 || step === flags.outerSteps - 1) {
        out.log(`outer step ${step}: meta-loss ${fmt(upd.loss)}`);
      }
      step += 1;
      if (step % flags.checkpointEvery === 0) save();
      bar.update(step, `meta-loss ${upd.loss.toPrecision(4)}`);
      await tick();
    }
    save();
    await saveThetaFile(files.theta, lopt, learner.getMetaParams(state));
  } finally {
    bar.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const seconds = (Date.now() - t0) / 1000;
  const summary = {
    event: stop ? 'interrupted' : 'done',
    outerSteps: step,
    resumedFrom,
    finalLoss: losses.length > 0 ? losses[losses.length - 1] : null,
    seconds,
    checkpoint: files.checkpoint,
    theta: files.theta,
    metrics: files.metrics,
  };
  const text2 = stop
    ? `interrupted at outer step ${step}: checkpoint and theta written to ${flags.out} (continue with --resume)`
    : `done: ${step} outer steps${resumedFrom ? ` (resumed from ${resumedFrom})` : ''}, last meta-loss ${summary.finalLoss == null ? '-' : fmt(summary.finalLoss)}, ${seconds.toFixed(1)} s; theta in ${join(flags.out, RUN_FILES.theta)}`;
  out.result(text2, summary);
  disposeExcept(state);
  if (stop) process.exitCode = 130;
}

/** The `lopt meta-train` command. */
export function metaTrainCommand(): Command {
  return addDistributedOptions(metaTrainSingleCommand());
}

function metaTrainSingleCommand(): Command {
  return new Command('meta-train')
    .description(
      'Meta-train a learned optimizer on a task or task family, writing JSON-lines metrics, periodic checkpoints and the final theta into --out.',
    )
    .requiredOption('--lopt <name>', 'learned optimizer to meta-train (see `lopt optimizers`)')
    .requiredOption('--task <name>', 'task or task family to train on (see `lopt tasks`)')
    .addOption(
      new Option('--estimator <name>', 'gradient estimator: pes (truncated PES), es (full-unroll ES), tes (truncated ES), tgrad (truncated backprop), fullgrad (backprop through the whole unroll, mean loss), unroll (backprop through the whole unroll, last loss)')
        .choices(ESTIMATORS)
        .default('pes'),
    )
    .requiredOption('--outer-steps <n>', 'train until this outer step', positiveInt)
    .option('--tasks <k>', 'inner problems trained together per outer step', positiveInt, 4)
    .requiredOption('--out <dir>', 'folder for metrics.jsonl, checkpoint.json, theta.json and run.json')
    .option('--resume', 'continue from the checkpoint in --out', false)
    .option('--inner-steps <n>', 'length of each inner training run (truncation schedule)', positiveInt, 50)
    .option('--trunc-length <n>', 'inner steps per outer step for the truncated estimators (pes, tes, tgrad)', positiveInt, 10)
    .option('--std <x>', 'perturbation standard deviation of the ES estimators', positiveNumber, 0.01)
    .option('--outer-lr <x>', 'learning rate of the outer Adam', positiveNumber, 1e-3)
    .option('--checkpoint-every <n>', 'write a checkpoint every n outer steps (and at the end)', positiveInt, 10)
    .option('--log-every <n>', 'print the meta-loss every n outer steps', positiveInt, 10)
    .addHelpText(
      'after',
      `
Ctrl-C (SIGINT) or SIGTERM finishes the current outer step, writes a checkpoint and theta,
and exits with code 130. A killed run continues from its last checkpoint with --resume.

Example:
  lopt meta-train --lopt LearnableAdam --task FixedDimQuadraticFamily --estimator pes \\
    --outer-steps 200 --tasks 8 --out runs/adam-quad`,
    )
    .action(metaTrainAction);
}
