import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Optimizer } from '@lopt/optimizers';
import { random, treeDispose } from '@lopt/pytree';
import { Command } from 'commander';
import { writeLineChart } from '../charts.js';
import { start } from '../context.js';
import { fmt } from '../fmt.js';
import { CliError } from '../errors.js';
import { ensureWritableDir, writeFileAtomic } from '../files.js';
import { trainTask } from '../inner-train.js';
import { canonicalLoptName, makeLearnedOptimizer, makeOptimizer, pretrainedOptimizer } from '../optimizer-registry.js';
import type { GlobalOptions } from '../output.js';
import { positiveInt, positiveNumber } from '../parse.js';
import { loadTask } from '../task-registry.js';
import { loadThetaFile, thetaFileLopt } from '../theta-file.js';

interface TrainFlags {
  task: string;
  optimizer?: string;
  lr?: number;
  lopt?: string;
  theta?: string;
  steps: number;
  logEvery?: number;
  out?: string;
}

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
    return { opt: lopt.optFn(theta, false), label: `${lopt.name} (published theta)`, dispose: () => treeDispose(theta) };
  }
  if (flags.optimizer) {
    const opt = makeOptimizer(flags.optimizer, flags.lr);
    return { opt, label: opt.name, dispose: () => {} };
  }
  if (!flags.lopt && !flags.theta) throw new CliError('give --optimizer <name>, or --lopt <name> with --theta <file>');
  if (flags.lr !== undefined) throw new CliError('--lr applies to hand-designed optimizers only (a learned optimizer has its theta)');
  const name = canonicalLoptName(flags.lopt ?? thetaFileLopt(flags.theta!));
  const lopt = makeLearnedOptimizer(name);
  const theta = flags.theta ? await loadThetaFile(flags.theta, lopt) : lopt.init(random.PRNGKey(g.seed));
  return {
    opt: lopt.optFn(theta, false),
    label: flags.theta ? `${name} (${flags.theta})` : `${name} (initial theta)`,
    dispose: () => treeDispose(theta),
  };
}

async function trainAction(flags: TrainFlags, cmd: Command): Promise<void> {
  const { g, out, backend } = await start(cmd);
  const outDir = flags.out ? ensureWritableDir(flags.out) : undefined;
  const { opt, label, dispose } = await chooseOptimizer(flags, g);
  const task = await loadTask(flags.task, g);
  const logEvery = flags.logEvery ?? Math.max(1, Math.floor(flags.steps / 10));
  const logPath = outDir ? join(outDir, 'train.jsonl') : undefined;
  if (logPath) writeFileAtomic(logPath, '');
  out.log(`training ${task.name} with ${label} for ${flags.steps} steps on ${backend}`);
  const bar = out.progress(flags.steps, 'train');
  let curve: Awaited<ReturnType<typeof trainTask>>;
  try {
    curve = await trainTask(task, opt, {
      steps: flags.steps,
      seed: g.seed,
      logEvery,
      onLog: (step, trainLoss, testLoss) => {
        out.log(`step ${step}: train loss ${fmt(trainLoss)}, test loss ${fmt(testLoss)}`);
        const rec = { step, trainLoss, testLoss };
        out.record(rec);
        if (logPath) appendFileSync(logPath, `${JSON.stringify(rec)}\n`);
      },
      onStep: (done, l) => bar.update(done, `loss ${l.toPrecision(4)}`),
    });
  } finally {
    bar.stop();
    dispose();
  }
  const last = curve.test[curve.test.length - 1]!;
  const finalTrain = curve.train[curve.train.length - 1]!;
  let chart: string | undefined;
  if (outDir) {
    const r = await writeLineChart(join(outDir, 'train-loss'), {
      title: `${task.name}: ${label}`,
      xTitle: 'step',
      yTitle: 'loss',
      series: [
        { name: 'train', points: curve.train.map((l, i) => [i, l] as const) },
        { name: 'test', points: curve.test },
      ],
    });
    chart = r.png;
  }
  out.result(
    `final train loss ${fmt(finalTrain)}, test loss ${fmt(last[1])} after ${flags.steps} steps (${curve.seconds.toFixed(1)} s)${chart ? `; plot: ${chart}` : ''}`,
    { event: 'done', task: task.name, optimizer: label, steps: flags.steps, finalTrainLoss: finalTrain, finalTestLoss: last[1], seconds: curve.seconds },
  );
}

/** The `lopt train` command. */
export function trainCommand(): Command {
  return new Command('train')
    .description('Train a task with a hand-designed optimizer, or with a learned optimizer and its theta, logging train and test loss.')
    .requiredOption('--task <name>', 'task to train (see `lopt tasks`)')
    .option('--optimizer <name>', 'hand-designed optimizer (see `lopt optimizers`)')
    .option('--lr <x>', "learning rate of --optimizer (default: the optimizer's own)", positiveNumber)
    .option('--lopt <name>', 'learned optimizer (default with --theta: the one the file was written for)')
    .option('--theta <file>', 'theta of the learned optimizer (theta.json of `lopt meta-train`)')
    .requiredOption('--steps <n>', 'training steps', positiveInt)
    .option('--log-every <n>', 'measure the test loss every n steps (default: steps/10)', positiveInt)
    .option('--out <dir>', 'also write train.jsonl and train-loss.svg/.png into this folder')
    .addHelpText(
      'after',
      `
Examples:
  lopt train --task ImageMLP_FashionMnist8_Relu32 --optimizer Adam --lr 0.01 --steps 500
  lopt train --task QuadraticTask --theta runs/adam-quad/theta.json --steps 100`,
    )
    .action(trainAction);
}
