import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { serializeTheta } from '@lopt/learned';
import {
  parseRecipe,
  RECIPE_FORMAT,
  RECIPE_LOPTS,
  RECIPE_VERSION,
  type Recipe,
  RecipeError,
  RecipeTrainer,
} from '@lopt/outer-trainers';
import { fileCheckpointStore, jsonLinesAppender } from '@lopt/outer-trainers/node';
import { listTaskDistributions } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import type { Command } from 'commander';
import { start } from '../context.js';
import { CliError, oneLine } from '../errors.js';
import { requireFile, writeFileAtomic } from '../files.js';
import { fmt } from '../fmt.js';
import { INTERRUPTED_EXIT_CODE, Interrupt } from '../interrupt.js';
import { unknownName } from '../names.js';
import { claimRunFolder, RUN_FILES, truncateMetrics } from '../run-folder.js';
import { dataOptions, imageDataAdvice } from '../task-registry.js';
import { thetaSummary } from '../theta-summary.js';

/**
 * The options of `meta-train` a recipe fixes, with what the recipe calls them: giving
 * one next to `--recipe` is an error rather than a setting silently ignored.
 */
export const FIXED_BY_RECIPE: readonly [flag: string, attribute: string, field: string][] = [
  ['--lopt', 'lopt', 'learnedOptimizer'],
  ['--task', 'task', 'taskDistribution'],
  ['--distribution', 'distribution', 'taskDistribution'],
  ['--estimator', 'estimator', 'estimator.name'],
  ['--tasks', 'tasks', 'estimator.numTasks'],
  ['--inner-steps', 'innerSteps', 'truncationSchedule'],
  ['--trunc-length', 'truncLength', 'estimator.truncLength'],
  ['--std', 'std', 'estimator.std'],
  ['--outer-lr', 'outerLr', 'outerOptimizer.learningRate'],
  ['--outer-steps', 'outerSteps', 'outerSteps (stop earlier with --steps)'],
  ['--checkpoint-every', 'checkpointEvery', 'checkpointEvery'],
  ['--seed', 'seed', 'seed'],
];

// Distributed meta-training runs the single-family estimators of --task; a recipe's
// mixture of resampled families runs in one process.
const DISTRIBUTED = ['redis', 'role', 'workers', 'estimatesPerStep', 'run', 'workerIndex'];

/** The flags of `meta-train --recipe` (and of `--distribution`, which builds a recipe). */
export interface RecipeRunFlags {
  out?: string;
  resume: boolean;
  force: boolean;
  steps?: number;
  logEvery: number;
}

/** Throws when `cmd` was given an option the recipe fixes, or a distributed one. */
export function checkRecipeFlags(cmd: Command, fixed = FIXED_BY_RECIPE, what = '--recipe'): void {
  const given = (attr: string) => {
    const src = cmd.getOptionValueSourceWithGlobals(attr);
    return src === 'cli' || src === 'env';
  };
  for (const [flag, attr, field] of fixed) {
    if (given(attr))
      throw new CliError(
        `${flag} cannot be combined with ${what}: the recipe sets it (${field}); edit the recipe file instead`,
      );
  }
  for (const attr of DISTRIBUTED) {
    if (given(attr))
      throw new CliError(
        `${what} runs in one process: the distributed options (--redis, --role, --workers, ...) do not apply to it`,
      );
  }
}

/** Reads and checks a recipe file; problems are one line naming the file and the field. */
export function readRecipeFile(path: string): { recipe: Recipe; text: string } {
  const abs = requireFile(path, 'recipe file');
  const text = readFileSync(abs, 'utf8');
  try {
    return { recipe: parseRecipe(text), text };
  } catch (e) {
    throw new CliError(`recipe file '${path}': ${oneLine(e)}`);
  }
}

/**
 * Runs a recipe with `RecipeTrainer` into `--out`: the folder claimed like every
 * `meta-train` run, the trainer's checkpoint in `checkpoint.json` (so a run started with
 * `RecipeTrainer` and `fileCheckpointStore` directly resumes here too), its metrics lines
 * in `metrics.jsonl`, the final theta in `theta.json` and the recipe in `run.json`.
 */
export async function runRecipe(recipe: Recipe, source: string, flags: RecipeRunFlags, cmd: Command): Promise<void> {
  const { g, out, backend } = await start(cmd);
  if (flags.out === undefined) throw new CliError("required option '--out <dir>' not specified");
  if (flags.resume && flags.force)
    throw new CliError('give --resume (continue the run in --out) or --force (replace it), not both');
  const until = flags.steps ?? recipe.outerSteps;
  if (until > recipe.outerSteps) {
    throw new CliError(
      `--steps ${until} is past the recipe's outerSteps (${recipe.outerSteps}); to run longer, raise outerSteps in the recipe (its checkpoints still resume)`,
    );
  }
  const { folder, files } = claimRunFolder({
    out: flags.out,
    resume: flags.resume,
    force: flags.force,
    command: 'meta-train',
    warn: (m) => out.warn(m),
  });

  const interrupt = new Interrupt(out);
  const appendLine = jsonLinesAppender(files.metrics);
  let trainer: RecipeTrainer | undefined;
  let bar = out.progress(until, 'meta-train', 'step');
  const t0 = Date.now();
  try {
    const { key: _k, ...data } = dataOptions(g);
    trainer = await RecipeTrainer.create(recipe, {
      data,
      store: fileCheckpointStore(files.checkpoint),
      onFamily: (j, family) => out.log(`estimator ${j}: family ${family}`),
      onMetricsLine: (line) => {
        // The trainer's line, with theta's trajectory (for `lopt plot`) and the live tensors.
        const record = {
          ...(JSON.parse(line) as object),
          theta: thetaSummary(trainer!.theta()),
          numTensors: tf.memory().numTensors,
        };
        appendLine(`${JSON.stringify(record)}\n`);
        out.record(record);
      },
      onStep: (step, loss) => {
        if (step % flags.logEvery === 0 || step === until - 1) out.log(`outer step ${step}: meta-loss ${fmt(loss)}`);
        bar.update(step + 1, `meta-loss ${loss.toPrecision(4)}`);
      },
    });
  } catch (e) {
    bar.stop();
    interrupt.dispose();
    throw recipeRunError(e, folder.shown, g);
  }
  const resumedFrom = trainer.resumedFrom;
  if (resumedFrom > 0) {
    truncateMetrics(files.metrics, resumedFrom);
    out.log(`resuming from the checkpoint at outer step ${resumedFrom}`);
  } else writeFileAtomic(files.metrics, '');
  writeFileAtomic(
    files.config,
    `${JSON.stringify({ recipeFile: source, recipe, steps: until, seed: recipe.seed, backend }, null, 2)}\n`,
  );
  const est = recipe.estimator;
  out.log(
    `meta-training ${recipe.learnedOptimizer.name} with the recipe ${recipe.name} (${est.name}, ${recipe.numEstimators ?? 1} x ${est.numTasks} tasks, truncations of ${est.truncLength}, outer Adam ${recipe.outerOptimizer.learningRate}) until outer step ${until} into ${folder.shown}`,
  );
  bar.stop();
  bar = out.progress(until, 'meta-train', 'step');
  bar.update(resumedFrom);
  let losses: number[] = [];
  try {
    if (trainer.step < until) losses = await trainer.run(until, { shouldStop: () => interrupt.requested });
    else trainer.save();
    bar.stop();
    writeFileAtomic(files.theta, serializeTheta(trainer.theta(), trainer.lopt));
  } catch (e) {
    bar.stop();
    throw recipeRunError(e, folder.shown, g);
  } finally {
    interrupt.dispose();
    trainer.dispose();
  }
  const step = trainer.step;
  const stopped = interrupt.requested && step < until;
  const seconds = (Date.now() - t0) / 1000;
  const finalLoss = losses.length > 0 ? losses[losses.length - 1]! : null;
  const summary = {
    event: stopped ? 'interrupted' : 'done',
    recipe: recipe.name,
    outerSteps: step,
    resumedFrom,
    finalLoss,
    seconds,
    checkpoint: files.checkpoint,
    theta: files.theta,
    metrics: files.metrics,
  };
  const written = `${RUN_FILES.checkpoint}, ${RUN_FILES.theta}, ${RUN_FILES.metrics} and ${RUN_FILES.config} in ${folder.shown}`;
  const text = stopped
    ? `interrupted (${interrupt.received}) at outer step ${step}: wrote ${written} (continue with --resume)`
    : `done: ${step} outer steps${resumedFrom ? ` (resumed from ${resumedFrom})` : ''}, last meta-loss ${finalLoss == null ? '-' : fmt(finalLoss)}, ${seconds.toFixed(1)} s; wrote ${written}`;
  out.result(text, summary);
  if (stopped) process.exitCode = INTERRUPTED_EXIT_CODE;
}

function recipeRunError(e: unknown, shown: string, g: Parameters<typeof imageDataAdvice>[0]): CliError {
  if (e instanceof CliError) return e;
  const msg = oneLine(e);
  if (e instanceof RecipeError) return new CliError(msg);
  if (/^checkpoint: /.test(msg)) {
    const other = /another configuration/.test(msg) ? checkpointRecipe(join(shown, RUN_FILES.checkpoint)) : '';
    return new CliError(
      `cannot resume from '${join(shown, RUN_FILES.checkpoint)}': ${msg.replace(/^checkpoint: /, '')}${other}`,
    );
  }
  const missing = /not found|no folder to download/.test(msg);
  return new CliError(`${msg}${missing ? imageDataAdvice(g) : ''}`);
}

// Why a checkpoint does not fit, from the recipe name RecipeTrainer records in it.
function checkpointRecipe(path: string): string {
  let name: unknown;
  try {
    name = (JSON.parse(readFileSync(path, 'utf8')) as { extra?: { recipe?: unknown } }).extra?.recipe;
  } catch {
    return '';
  }
  return typeof name === 'string'
    ? `; it resumes only with the recipe that wrote it ('${name}' or an edited version of it), in which only outerSteps, checkpointEvery and description may change`
    : '; it was not written by a recipe run (resume it with the flags that started it, without --recipe)';
}

/** The PES options of `meta-train --distribution`, from which it builds a one-component recipe. */
export interface DistributionRunFlags {
  distribution: string;
  distributionOptions?: string;
  resampleEvery: number;
  lopt: string;
  estimator: string;
  tasks: number;
  innerSteps: number;
  truncLength: number;
  std: number;
  outerLr: number;
  outerSteps: number;
  checkpointEvery: number;
  seed: number;
}

/**
 * The recipe `meta-train --distribution` runs: one estimator on families drawn from the
 * named distribution (a new one every `--resample-every` outer steps), inner runs of
 * `--inner-steps` in truncations of `--trunc-length`, outer Adam at `--outer-lr`. Its
 * checks (names, options, lengths) are the recipe's, reported in terms of the flags.
 */
export function distributionRecipe(f: DistributionRunFlags): Recipe {
  const estimators: Record<string, Recipe['estimator']['name']> = { pes: 'TruncatedPES', tes: 'TruncatedES' };
  const est = estimators[f.estimator];
  if (!est) throw new CliError(`--distribution runs the truncated ES estimators (pes or tes), not '${f.estimator}'`);
  if (!(f.lopt in RECIPE_LOPTS)) {
    throw new CliError(
      `--distribution meta-trains ${Object.keys(RECIPE_LOPTS).join(' or ')} (neural learned optimizers whose inputs fit any task), not '${f.lopt}'`,
    );
  }
  if (!listTaskDistributions().includes(f.distribution))
    throw unknownName('task distribution', f.distribution, listTaskDistributions(), 'lopt tasks');
  if (f.truncLength > f.innerSteps)
    throw new CliError(`--trunc-length (${f.truncLength}) must not exceed --inner-steps (${f.innerSteps})`);
  if (f.innerSteps % f.truncLength !== 0)
    throw new CliError(`--inner-steps (${f.innerSteps}) must be a multiple of --trunc-length (${f.truncLength})`);
  let options: Record<string, unknown> = {};
  if (f.distributionOptions !== undefined) {
    try {
      options = JSON.parse(f.distributionOptions) as Record<string, unknown>;
    } catch (e) {
      throw new CliError(`--distribution-options is not valid JSON (${oneLine(e)}); write it as '{"key": value}'`);
    }
    if (options === null || typeof options !== 'object' || Array.isArray(options))
      throw new CliError('--distribution-options must be a JSON object, such as \'{"imageSize": [4, 9]}\'');
  }
  const raw = {
    format: RECIPE_FORMAT,
    version: RECIPE_VERSION,
    name: `${f.lopt}-on-${f.distribution}`,
    seed: f.seed,
    learnedOptimizer: { name: f.lopt },
    taskDistribution: { components: [{ distribution: f.distribution, options }] },
    estimator: { name: est, numTasks: f.tasks, truncLength: f.truncLength, std: f.std },
    truncationSchedule: { name: 'ConstantTruncationSchedule', length: f.innerSteps },
    numEstimators: 1,
    resampleEvery: f.resampleEvery,
    outerOptimizer: { name: 'Adam', learningRate: f.outerLr },
    outerSteps: f.outerSteps,
    checkpointEvery: f.checkpointEvery,
  };
  try {
    return parseRecipe(raw);
  } catch (e) {
    // Only the distribution's options can be wrong here: the flags were checked above.
    throw new CliError(
      `--distribution ${f.distribution}: ${oneLine(e).replace(/^recipe\.taskDistribution\.components\[0\]:? ?/, '')}`,
    );
  }
}
