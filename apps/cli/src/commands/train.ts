import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Optimizer } from '@lopt/optimizers';
import { random, treeDispose } from '@lopt/pytree';
import { Command } from 'commander';
import { writeLineChart } from '../charts.js';
import { start } from '../context.js';
import { CliError } from '../errors.js';
import { writeFileAtomic } from '../files.js';
import { fmt } from '../fmt.js';
import { type TrainCurve, trainTask } from '../inner-train.js';
import { INTERRUPTED_EXIT_CODE, Interrupt } from '../interrupt.js';
import { canonicalLoptName, makeLearnedOptimizer, makeOptimizer, pretrainedOptimizer } from '../optimizer-registry.js';
import type { GlobalOptions } from '../output.js';
import { positiveInt, positiveNumber } from '../parse.js';
import { claimOutputFolder } from '../run-folder.js';
import { loadTask } from '../task-registry.js';
import { loadThetaFile, recipeOptimizerOfThetaFile, thetaFileLopt } from '../theta-file.js';

interface TrainFlags {
  task: string;
  optimizer?: string;
  lr?: number;
  lopt?: string;
  theta?: string;
  steps: number;
  logEvery?: number;
  out?: string;
  force: boolean;
}

/** Files `train --out` writes. */
export const TRAIN_FILES = ['train.jsonl', 'train-loss.svg', 'train-loss.png'] as const;

/** The optimizer named by `--optimizer`/`--lr`, or the learned one of `--lopt`/`--theta`; with its label. */
export async function chooseOptimizer(
  flags: { optimizer?: string; lr?: number; lopt?: string; theta?: string },
  g: GlobalOptions,
): Promise<{ opt: Optimizer; label: string; dispose: () => void }> {
  if (flags.optimizer && (flags.lopt || flags.theta)) {
    throw new CliError('give either --optimizer (hand-designed) or --lopt/--theta (learned), not both');
  }
  // A learned optimizer with a published theta (Celo2) runs from --optimizer, or --lopt without --theta.
  const pretrained = pretrainedOptimizer(flags.optimizer ?? (flags.theta ? '' : (flags.lopt ?? '')), flags.lr);
  if (pretrained) {
    const { lopt, theta } = pretrained;
    return {
      opt: lopt.optFn(theta, false),
      label: `${lopt.name} (published theta)`,
      dispose: () => treeDispose(theta),
    };
  }
  if (flags.optimizer) {
    const opt = makeOptimizer(flags.optimizer, flags.lr);
    return { opt, label: opt.name, dispose: () => {} };
  }
  if (!flags.lopt && !flags.theta) throw new CliError('give --optimizer <name>, or --lopt <name> with --theta <file>');
  if (flags.lr !== undefined)
    throw new CliError('--lr applies to hand-designed optimizers only (a learned optimizer has its theta)');
  const name = canonicalLoptName(flags.lopt ?? thetaFileLopt(flags.theta!));
  const lopt = (flags.theta && recipeOptimizerOfThetaFile(flags.theta, name)) || makeLearnedOptimizer(name);
  const theta = flags.theta ? await loadThetaFile(flags.theta, lopt) : lopt.init(random.PRNGKey(g.seed));
  return {
    opt: lopt.optFn(theta, false),
    label: flags.theta ? `${name} (${flags.theta})` : `${name} (initial theta)`,
    dispose: () => treeDispose(theta),
  };
}

// JSON has no NaN or Infinity: they are written as strings rather than as null.
function finiteOrString(_k: string, v: unknown): unknown {
  return typeof v === 'number' && !Number.isFinite(v) ? String(v) : v;
}

/** The sentence for a run that diverged, naming the step and what to try. */
export function divergedMessage(label: string, ended: NonNullable<TrainCurve['ended']>, hint: string): string {
  if (ended.reason !== 'diverged') return '';
  return `the training loss of ${label} became ${ended.loss} at step ${ended.step}; training stopped there${hint}`;
}

async function trainAction(flags: TrainFlags, cmd: Command): Promise<void> {
  const { g, out, backend } = await start(cmd);
  const { opt, label, dispose } = await chooseOptimizer(flags, g);
  let task: Awaited<ReturnType<typeof loadTask>>;
  try {
    task = await loadTask(flags.task, g);
  } catch (e) {
    dispose();
    throw e;
  }
  const folder = flags.out
    ? claimOutputFolder({
        dir: flags.out,
        isDefault: false,
        outputs: TRAIN_FILES,
        force: flags.force,
        command: 'train',
        warn: (m) => out.warn(m),
      })
    : undefined;
  const logEvery = flags.logEvery ?? Math.max(1, Math.floor(flags.steps / 10));
  const logPath = folder ? join(folder.abs, 'train.jsonl') : undefined;
  if (logPath) writeFileAtomic(logPath, '');
  out.log(`training ${task.label} with ${label} for ${flags.steps} steps on ${backend}`);
  const interrupt = new Interrupt(out);
  const bar = out.progress(flags.steps, 'train');
  let curve: TrainCurve;
  try {
    curve = await trainTask(task.task, opt, {
      steps: flags.steps,
      seed: g.seed,
      logEvery,
      onLog: (step, trainLoss, testLoss) => {
        out.log(`step ${step}: train loss ${fmt(trainLoss)}, test loss ${fmt(testLoss)}`);
        const rec = { step, trainLoss, testLoss };
        out.record(rec);
        if (logPath) appendFileSync(logPath, `${JSON.stringify(rec, finiteOrString)}\n`);
      },
      onStep: (done, l) => bar.update(done, `loss ${l.toPrecision(4)}`),
      shouldStop: () => interrupt.requested,
    });
  } finally {
    bar.stop();
    interrupt.dispose();
    dispose();
  }
  const last = curve.test[curve.test.length - 1]!;
  const finalTrain = curve.train[curve.train.length - 1]!;
  let chart: string | undefined;
  if (folder) {
    const r = await writeLineChart(join(folder.abs, 'train-loss'), {
      title: `${task.label}: ${label}`,
      xTitle: 'step',
      yTitle: 'loss',
      series: [
        { name: 'train', points: curve.train.map((l, i) => [i, l] as const).filter(([, l]) => Number.isFinite(l)) },
        { name: 'test', points: curve.test.filter(([, l]) => Number.isFinite(l)) },
      ],
    });
    chart = r.png;
  }
  const written = folder ? `; wrote train.jsonl, train-loss.svg and train-loss.png in ${folder.shown}` : '';
  const summary = {
    event: curve.ended?.reason === 'stopped' ? 'interrupted' : curve.ended ? 'diverged' : 'done',
    task: task.task.name,
    optimizer: label,
    steps: curve.steps,
    finalTrainLoss: finalTrain,
    finalTestLoss: last[1],
    seconds: curve.seconds,
    ...(curve.ended?.reason === 'diverged' ? { divergedAt: curve.ended.step } : {}),
    ...(folder ? { out: folder.abs, chart } : {}),
  };
  if (curve.ended?.reason === 'diverged') {
    out.result(`stopped at step ${curve.ended.step}: non-finite training loss${written}`, summary);
    const hint = flags.optimizer ? ' (is the learning rate too large? try a smaller --lr)' : '';
    throw new CliError(divergedMessage(label, curve.ended, hint));
  }
  const head = curve.ended ? `interrupted (${interrupt.received}) after ${curve.steps} of ${flags.steps} steps: ` : '';
  out.result(
    `${head}final train loss ${fmt(finalTrain)}, test loss ${fmt(last[1])} after ${curve.steps} steps (${curve.seconds.toFixed(1)} s)${written}`,
    summary,
  );
  if (curve.ended) process.exitCode = INTERRUPTED_EXIT_CODE;
}

/** The `lopt train` command. */
export function trainCommand(): Command {
  return new Command('train')
    .description(
      'Train a task with a hand-designed optimizer, or with a learned optimizer and its theta, logging train and test loss.',
    )
    .requiredOption('--task <name>', 'task to train, or a task family to draw one from with --seed (see `lopt tasks`)')
    .option('--optimizer <name>', 'hand-designed optimizer (see `lopt optimizers`)')
    .option('--lr <x>', "learning rate of --optimizer (default: the optimizer's own)", positiveNumber)
    .option('--lopt <name>', 'learned optimizer (default with --theta: the one the file was written for)')
    .option('--theta <file>', 'theta of the learned optimizer (theta.json of `lopt meta-train`)')
    .requiredOption('--steps <n>', 'training steps', positiveInt)
    .option('--log-every <n>', 'measure the test loss every n steps (default: steps/10)', positiveInt)
    .option('--out <dir>', 'also write train.jsonl and train-loss.svg/.png into this folder')
    .option('--force', "replace an earlier run's train.jsonl and plot in --out", false)
    .addHelpText(
      'after',
      `
A non-finite training loss stops the run at that step (reported with the step, exit code 1).
Ctrl-C (SIGINT) or SIGTERM finishes the current step, writes what --out promises, and exits
with code 130.

Examples:
  lopt train --task ImageMLP_FashionMnist8_Relu32 --optimizer Adam --lr 0.01 --steps 500
  lopt train --task QuadraticTask --theta runs/la-quad/theta.json --steps 100`,
    )
    .action(trainAction);
}
