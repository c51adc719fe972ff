import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { datasetsState } from '@lopt/datasets';
import { type LearnedOptimizer, serializeTheta } from '@lopt/learned';
import { Adam } from '@lopt/optimizers';
import {
  ConstantTruncationSchedule,
  disposeExcept,
  FullES,
  FullGrad,
  type GradientEstimator,
  metaTrain,
  metricsLine,
  NeverEndingTruncationSchedule,
  SingleMachineGradientLearner,
  TruncatedES,
  TruncatedGrad,
  TruncatedPES,
  VectorizedLOptTruncatedStep,
} from '@lopt/outer-trainers';
import { fileCheckpointStore } from '@lopt/outer-trainers/node';
import { random, treeDispose } from '@lopt/pytree';
import type { TaskFamily } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import { Command, Option } from 'commander';
import { globalsOf, start } from '../context.js';
import { CliError, oneLine } from '../errors.js';
import { writeFileAtomic } from '../files.js';
import { fmt } from '../fmt.js';
import { INTERRUPTED_EXIT_CODE, Interrupt } from '../interrupt.js';
import { canonicalLoptName, makeLearnedOptimizer } from '../optimizer-registry.js';
import { nonNegativeInt, positiveInt, positiveNumber } from '../parse.js';
import { claimRunFolder, RUN_FILES, truncateMetrics } from '../run-folder.js';
import { loadTaskFamily } from '../task-registry.js';
import { thetaSummary } from '../theta-summary.js';
import { addDistributedOptions, type DistributedFlags, runDistributedIfAsked } from './meta-train-distributed.js';
import { checkRecipeFlags, distributionRecipe, readRecipeFile, runRecipe } from './meta-train-recipe.js';

/** The gradient estimators `--estimator` names. */
export const ESTIMATORS = ['pes', 'es', 'tes', 'tgrad', 'fullgrad', 'unroll'] as const;
type EstimatorName = (typeof ESTIMATORS)[number];
const TRUNCATED: readonly EstimatorName[] = ['pes', 'tes', 'tgrad'];

/** Outer learning rate when `--outer-lr` is not given: large for a few hyperparameters, small for networks. */
export const OUTER_LR = { hyperparameters: 3e-2, network: 1e-3 } as const;
const FEW_HYPERPARAMETERS = 16;

interface MetaTrainFlags extends DistributedFlags {
  lopt: string;
  task: string;
  recipe?: string;
  distribution?: string;
  distributionOptions?: string;
  resampleEvery: number;
  steps?: number;
  estimator: EstimatorName;
  outerSteps: number;
  tasks: number;
  out: string;
  resume: boolean;
  force: boolean;
  innerSteps: number;
  truncLength: number;
  std: number;
  outerLr?: number;
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

/** The outer learning rate `--outer-lr` defaults to for `lopt`. */
function defaultOuterLr(lopt: LearnedOptimizer): number {
  const theta = lopt.init(random.PRNGKey(0));
  const size = countElements(theta);
  treeDispose(theta);
  return size <= FEW_HYPERPARAMETERS ? OUTER_LR.hyperparameters : OUTER_LR.network;
}

function countElements(tree: unknown): number {
  if (tree instanceof tf.Tensor) return tree.size;
  if (Array.isArray(tree)) return tree.reduce((n: number, x) => n + countElements(x), 0);
  if (tree !== null && typeof tree === 'object')
    return Object.values(tree).reduce((n: number, x) => n + countElements(x), 0);
  return 0;
}

function buildEstimator<Theta>(
  cfg: RunConfig,
  family: TaskFamily,
  lopt: LearnedOptimizer<Theta>,
): GradientEstimator<Theta> {
  const truncated = TRUNCATED.includes(cfg.estimator);
  if (truncated && cfg.truncLength > cfg.innerSteps) {
    throw new CliError(`--trunc-length (${cfg.truncLength}) must not exceed --inner-steps (${cfg.innerSteps})`);
  }
  if (truncated && cfg.innerSteps % cfg.truncLength !== 0) {
    throw new CliError(`--inner-steps (${cfg.innerSteps}) must be a multiple of --trunc-length (${cfg.truncLength})`);
  }
  const schedule = new ConstantTruncationSchedule(cfg.innerSteps);
  // Full-unroll estimators decide the unroll length themselves; the step never truncates.
  const step = new VectorizedLOptTruncatedStep(
    family,
    lopt,
    truncated ? schedule : new NeverEndingTruncationSchedule(),
    cfg.tasks,
  );
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

const tick = () => new Promise<void>((r) => setImmediate(r));

async function metaTrainAction(flags: MetaTrainFlags, cmd: Command): Promise<void> {
  if (flags.recipe !== undefined) {
    checkRecipeFlags(cmd);
    const { recipe } = readRecipeFile(flags.recipe);
    return runRecipe(recipe, flags.recipe, flags, cmd);
  }
  if (flags.distribution !== undefined) {
    if (cmd.getOptionValueSource('task') === 'cli')
      throw new CliError('give --task (a task or task family) or --distribution (a task distribution), not both');
    checkRecipeFlags(cmd, [], '--distribution');
    if (flags.lopt === undefined) throw new CliError("required option '--lopt <name>' not specified");
    if (flags.outerSteps === undefined) throw new CliError("required option '--outer-steps <n>' not specified");
    const recipe = distributionRecipe({
      ...flags,
      distribution: flags.distribution,
      lopt: canonicalLoptName(flags.lopt),
      outerSteps: flags.outerSteps,
      // Only neural learned optimizers take a distribution: the networks' default.
      outerLr: flags.outerLr ?? OUTER_LR.network,
      seed: globalsOf(cmd).seed,
    });
    return runRecipe(recipe, `--distribution ${flags.distribution}`, flags, cmd);
  }
  for (const [flag, v] of [
    ['--steps', flags.steps],
    ['--distribution-options', flags.distributionOptions],
  ] as const) {
    if (v !== undefined)
      throw new CliError(`${flag} applies to --recipe and --distribution runs only (use --outer-steps here)`);
  }
  if (cmd.getOptionValueSource('resampleEvery') === 'cli')
    throw new CliError('--resample-every applies to --distribution runs only');
  if (flags.lopt === undefined) throw new CliError("required option '--lopt <name>' not specified");
  if (flags.task === undefined)
    throw new CliError(
      "required option '--task <name>' not specified (or give --recipe <file> or --distribution <name>)",
    );
  if (await runDistributedIfAsked(flags, cmd, { buildEstimator, defaultOuterLr })) return;
  const { g, out } = await start(cmd);
  if (flags.resume && flags.force)
    throw new CliError('give --resume (continue the run in --out) or --force (replace it), not both');
  const loptName = canonicalLoptName(flags.lopt);
  const lopt = makeLearnedOptimizer(loptName);
  const truncated = TRUNCATED.includes(flags.estimator);
  const cfg: RunConfig = {
    lopt: loptName,
    task: flags.task,
    estimator: flags.estimator,
    tasks: flags.tasks,
    innerSteps: flags.innerSteps,
    // Only the truncated estimators use it; the others leave it out of the fingerprint.
    truncLength: truncated ? flags.truncLength : flags.innerSteps,
    std: flags.std,
    outerLr: flags.outerLr ?? defaultOuterLr(lopt),
    seed: g.seed,
  };
  const { folder, files } = claimRunFolder({
    out: flags.out,
    resume: flags.resume,
    force: flags.force,
    command: 'meta-train',
    warn: (m) => out.warn(m),
  });
  const { family, task } = await loadTaskFamily(flags.task, g);
  const estimator = buildEstimator(cfg, family, lopt);
  const learner = new SingleMachineGradientLearner(lopt, [estimator], new Adam(cfg.outerLr), {
    numSteps: flags.outerSteps,
  });
  // Real data: the batch streams' positions go into every checkpoint, so a resumed run
  // draws exactly the batches the uninterrupted run would have.
  const dataState = task?.datasets
    ? (datasetsState(task.datasets) as { get(): unknown; set(s: unknown): void })
    : undefined;

  const interrupt = new Interrupt(out);
  const bar = out.progress(flags.outerSteps, 'meta-train', 'step');
  const t0 = Date.now();
  let result: Awaited<ReturnType<typeof metaTrain<unknown>>>;
  try {
    result = await metaTrain<unknown>({
      learner,
      seed: g.seed,
      numSteps: flags.outerSteps,
      config: cfg,
      store: fileCheckpointStore(files.checkpoint),
      checkpointEvery: flags.checkpointEvery,
      dataState,
      signal: interrupt.signal,
      onStart: ({ resumedFrom, resumed }) => {
        if (resumed) {
          truncateMetrics(files.metrics, resumedFrom);
          out.log(`resuming from the checkpoint at outer step ${resumedFrom}`);
        } else writeFileAtomic(files.metrics, '');
        writeFileAtomic(files.config, `${JSON.stringify({ ...cfg, outerSteps: flags.outerSteps }, null, 2)}\n`);
        const detail = truncated
          ? `${cfg.innerSteps} inner steps in truncations of ${cfg.truncLength}`
          : `unrolls of ${cfg.innerSteps} inner steps`;
        out.log(
          `meta-training ${loptName} on ${flags.task} with ${flags.estimator} (${cfg.tasks} tasks, ${detail}, outer Adam ${cfg.outerLr}) for ${flags.outerSteps} outer steps into ${folder.shown}`,
        );
        bar.update(resumedFrom);
      },
      onStep: async (step, loss, metrics, state) => {
        const theta = thetaSummary(learner.getMetaParams(state));
        const line = metricsLine({ step, loss, metrics, time: new Date().toISOString() });
        // Live tensors after the step: constant from step to step unless something leaks.
        const record = { ...(JSON.parse(line) as object), theta, numTensors: tf.memory().numTensors };
        await appendFile(files.metrics, `${JSON.stringify(record)}\n`);
        out.record(record);
        if (step % flags.logEvery === 0 || step === flags.outerSteps - 1)
          out.log(`outer step ${step}: meta-loss ${fmt(loss)}`);
        bar.update(step + 1, `meta-loss ${loss.toPrecision(4)}`);
        await tick(); // draws the bar, and lets a signal in
      },
    });
  } catch (e) {
    bar.stop();
    interrupt.dispose();
    const msg = oneLine(e);
    if (/^checkpoint: /.test(msg))
      throw new CliError(
        `cannot resume from '${join(folder.shown, RUN_FILES.checkpoint)}': ${msg.replace(/^checkpoint: /, '')}`,
      );
    throw new CliError(msg.replace(/^metaTrain: /, ''));
  }
  bar.stop();
  const { state, losses, resumedFrom, step, stopped } = result;
  try {
    writeFileAtomic(files.theta, serializeTheta(learner.getMetaParams(state), lopt));
  } finally {
    disposeExcept(state);
    interrupt.dispose();
  }
  const seconds = (Date.now() - t0) / 1000;
  const summary = {
    event: stopped ? 'interrupted' : 'done',
    outerSteps: step,
    resumedFrom,
    finalLoss: losses.length > 0 ? losses[losses.length - 1] : null,
    seconds,
    checkpoint: files.checkpoint,
    theta: files.theta,
    metrics: files.metrics,
  };
  const written = `${RUN_FILES.checkpoint}, ${RUN_FILES.theta}, ${RUN_FILES.metrics} and ${RUN_FILES.config} in ${folder.shown}`;
  const text = stopped
    ? `interrupted (${interrupt.received}) at outer step ${step}: wrote ${written} (continue with --resume)`
    : `done: ${step} outer steps${resumedFrom ? ` (resumed from ${resumedFrom})` : ''}, last meta-loss ${summary.finalLoss == null ? '-' : fmt(summary.finalLoss)}, ${seconds.toFixed(1)} s; wrote ${written}`;
  out.result(text, summary);
  if (stopped) process.exitCode = INTERRUPTED_EXIT_CODE;
}

/** The `lopt meta-train` command. */
export function metaTrainCommand(): Command {
  const cmd = addDistributedOptions(metaTrainSingleCommand());
  // --recipe and --distribution runs name neither; the action checks them for the others.
  for (const o of cmd.options) if (o.long === '--lopt' || o.long === '--task') o.mandatory = false;
  return cmd;
}

function metaTrainSingleCommand(): Command {
  return new Command('meta-train')
    .description(
      "Meta-train a learned optimizer on a task or task family with the library's metaTrain, writing JSON-lines metrics, periodic checkpoints and the final theta into --out.",
    )
    .option(
      '--recipe <file>',
      'run a meta-training recipe file (such as recipes/adafac-small-fc-v1.json): it sets the learned optimizer, the task distribution, the estimator, the outer optimizer, the seed and the number of steps',
    )
    .option(
      '--steps <n>',
      "with --recipe: stop at this outer step (a checkpoint is written; --resume continues), before the recipe's outerSteps",
      positiveInt,
    )
    .requiredOption('--lopt <name>', 'learned optimizer to meta-train (see `lopt optimizers`)')
    .requiredOption('--task <name>', 'task or task family to train on (see `lopt tasks`)')
    .option(
      '--distribution <name>',
      'instead of --task: meta-train on families drawn from this task distribution (see `lopt tasks`; pes or tes, AdafacMLPLOpt or MLPLOpt)',
    )
    .option(
      '--distribution-options <json>',
      'with --distribution: its options as JSON, e.g. \'{"imageSize":[4,9],"batchSize":[16,33]}\'',
    )
    .option(
      '--resample-every <n>',
      'with --distribution: draw a new family every n outer steps (0: keep the first)',
      nonNegativeInt,
      0,
    )
    .addOption(
      new Option(
        '--estimator <name>',
        'gradient estimator: pes (truncated PES), es (full-unroll ES), tes (truncated ES), tgrad (truncated backprop), fullgrad (backprop through the whole unroll, mean loss), unroll (backprop through the whole unroll, last loss)',
      )
        .choices(ESTIMATORS)
        .default('pes'),
    )
    .requiredOption('--outer-steps <n>', 'train until this outer step', positiveInt)
    .option('--tasks <k>', 'inner problems trained together per outer step', positiveInt, 4)
    .requiredOption('--out <dir>', 'folder for metrics.jsonl, checkpoint.json, theta.json and run.json')
    .option('--resume', 'continue the run in --out from its checkpoint', false)
    .option('--force', "replace another run's results in --out", false)
    .option('--inner-steps <n>', 'length of each inner training run (truncation schedule)', positiveInt, 50)
    .option(
      '--trunc-length <n>',
      'inner steps per outer step for the truncated estimators (pes, tes, tgrad)',
      positiveInt,
      10,
    )
    .option('--std <x>', 'perturbation standard deviation of the ES estimators', positiveNumber, 0.01)
    .option(
      '--outer-lr <x>',
      `learning rate of the outer Adam (default: ${OUTER_LR.hyperparameters} for learned optimizers with a few hyperparameters such as LearnableAdam, ${OUTER_LR.network} for neural ones)`,
      positiveNumber,
    )
    .option('--checkpoint-every <n>', 'write a checkpoint every n outer steps (and at the end)', positiveInt, 10)
    .option('--log-every <n>', 'print the meta-loss every n outer steps', positiveInt, 10)
    .addHelpText(
      'after',
      `
A folder holding another run is refused unless --resume (continue it) or --force (replace it);
a lock file keeps two runs out of one folder. Checkpoints hold theta, the outer optimizer,
the inner problems and the data streams' positions: a resumed run continues exactly as an
uninterrupted one would have. Ctrl-C (SIGINT) or SIGTERM finishes the current outer step,
writes a checkpoint and theta, and exits with code 130; a second one quits at once.

With --recipe FILE the recipe sets the learned optimizer, the task distribution, the
estimators, the outer optimizer, the seed and the number of outer steps: the flags it sets are
refused next to it; --steps N stops at outer step N with a checkpoint, and --resume continues
(also a run RecipeTrainer started with a checkpoint file DIR/checkpoint.json). With
--distribution NAME (see \`lopt tasks\`) the PES flags above meta-train AdafacMLPLOpt or
MLPLOpt on families drawn from that distribution.

Examples:
  lopt meta-train --lopt LearnableAdam --task FixedDimQuadraticFamily --estimator pes --outer-steps 100 --tasks 8 --out runs/la-quad
  lopt meta-train --lopt LearnableAdam --task FixedDimQuadraticFamily --estimator pes --outer-steps 200 --tasks 8 --out runs/la-quad --resume
  lopt meta-train --recipe recipes/adafac-small-fc-v1.json --out runs/adafac --steps 2`,
    )
    .action(metaTrainAction);
}
