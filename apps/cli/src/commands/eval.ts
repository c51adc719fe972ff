import { join } from 'node:path';
import { Command } from 'commander';
import { writeLineChart } from '../charts.js';
import { start } from '../context.js';
import { CliError } from '../errors.js';
import { fmt } from '../fmt.js';
import { newTable } from '../table.js';
import { ensureWritableDir, writeFileAtomic } from '../files.js';
import { type TrainCurve, trainTask } from '../inner-train.js';
import { commaList, positiveInt, positiveNumber } from '../parse.js';
import { loadTask } from '../task-registry.js';
import { chooseOptimizer } from './train.js';

interface EvalFlags {
  lopt?: string;
  theta?: string;
  task: string;
  steps: number;
  baseline: string[];
  lr?: number;
  out: string;
}

interface Row {
  optimizer: string;
  finalTrainLoss: number;
  finalTestLoss: number;
  bestTestLoss: number;
  seconds: number;
}

async function evalAction(flags: EvalFlags, cmd: Command): Promise<void> {
  const { g, out, backend } = await start(cmd);
  const baselines = flags.baseline.length > 0 ? flags.baseline : ['Adam'];
  // Every optimizer is built (and every name checked) before any training starts.
  if (!flags.theta && !flags.lopt) throw new CliError('give --theta <file>, or --lopt Celo2 (which has a published theta)');
  const runs = [{ ...(await chooseOptimizer({ lopt: flags.lopt, theta: flags.theta }, g)), short: 'learned' }];
  for (const b of baselines) runs.push({ ...(await chooseOptimizer({ optimizer: b, lr: flags.lr }, g)), short: b });
  const outDir = ensureWritableDir(flags.out);
  const task = await loadTask(flags.task, g);
  const logEvery = Math.max(1, Math.floor(flags.steps / 20));
  const rows: Row[] = [];
  const curves: { label: string; curve: TrainCurve }[] = [];
  try {
    for (const r of runs) {
      out.log(`training ${task.name} with ${r.label} for ${flags.steps} steps on ${backend}`);
      const bar = out.progress(flags.steps, r.short);
      let curve: TrainCurve;
      try {
        curve = await trainTask(task, r.opt, {
          steps: flags.steps,
          seed: g.seed,
          logEvery,
          onStep: (done, l) => bar.update(done, `loss ${l.toPrecision(4)}`),
        });
      } finally {
        bar.stop();
      }
      curves.push({ label: r.label, curve });
      const row: Row = {
        optimizer: r.label,
        finalTrainLoss: curve.train[curve.train.length - 1]!,
        finalTestLoss: curve.test[curve.test.length - 1]![1],
        bestTestLoss: Math.min(...curve.test.map(([, l]) => l)),
        seconds: curve.seconds,
      };
      rows.push(row);
      out.record({ event: 'result', ...row });
    }
  } finally {
    for (const r of runs) r.dispose();
  }
  writeFileAtomic(
    join(outDir, 'eval.json'),
    `${JSON.stringify({ task: task.name, steps: flags.steps, seed: g.seed, rows, curves: curves.map((c) => ({ label: c.label, ...c.curve })) })}\n`,
  );
  const chart = await writeLineChart(join(outDir, 'eval-loss'), {
    title: `${task.name}: training loss`,
    xTitle: 'step',
    yTitle: 'train loss',
    series: curves.map((c) => ({ name: c.label, points: c.curve.train.map((l, i) => [i, l] as const) })),
  });
  const table = newTable(['optimizer', 'final train loss', 'final test loss', 'best test loss', 'seconds']);
  for (const r of rows) {
    table.push([r.optimizer, fmt(r.finalTrainLoss), fmt(r.finalTestLoss), fmt(r.bestTestLoss), r.seconds.toFixed(1)]);
  }
  out.result(`${table.toString()}\nplot: ${chart.svg}, ${chart.png}`, {
    event: 'done',
    task: task.name,
    steps: flags.steps,
    rows,
    plot: { svg: chart.svg, png: chart.png },
  });
}

/** The `lopt eval` command. */
export function evalCommand(): Command {
  return new Command('eval')
    .description('Compare a learned optimizer (a theta file) against hand-designed baselines on a task, as a table and a plot.')
    .option('--lopt <name>', 'learned optimizer (default: the one the theta file was written for)')
    .option('--theta <file>', 'theta of the learned optimizer (theta.json of `lopt meta-train`; not needed for Celo2)')
    .requiredOption('--task <name>', 'task to train (see `lopt tasks`)')
    .requiredOption('--steps <n>', 'training steps of every optimizer', positiveInt)
    .option('--baseline <names>', 'hand-designed baselines, comma-separated or repeated (default: Adam)', commaList, [])
    .option('--lr <x>', "learning rate of the baselines (default: each one's own)", positiveNumber)
    .option('--out <dir>', 'folder for eval.json and eval-loss.svg/.png', '.lopt-out/eval')
    .addHelpText(
      'after',
      `
Every optimizer starts from the same parameters (drawn from --seed).

Example:
  lopt eval --theta runs/adam-quad/theta.json --task QuadraticTask --steps 200 --baseline adam,sgd`,
    )
    .action(evalAction);
}
