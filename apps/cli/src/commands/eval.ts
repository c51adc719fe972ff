import { join } from 'node:path';
import { Command } from 'commander';
import { writeLineChart } from '../charts.js';
import { start } from '../context.js';
import { CliError } from '../errors.js';
import { writeFileAtomic } from '../files.js';
import { fmt } from '../fmt.js';
import { type TrainCurve, trainTask } from '../inner-train.js';
import { INTERRUPTED_EXIT_CODE, Interrupt } from '../interrupt.js';
import { commaList, positiveInt, positiveNumber } from '../parse.js';
import { claimOutputFolder } from '../run-folder.js';
import { newTable } from '../table.js';
import { loadTask } from '../task-registry.js';
import { chooseOptimizer, divergedMessage } from './train.js';

interface EvalFlags {
  lopt?: string;
  theta?: string;
  task: string;
  steps: number;
  baseline: string[];
  lr?: number;
  out: string;
  force: boolean;
}

/** Files `eval` writes into its folder. */
export const EVAL_FILES = ['eval.json', 'eval-loss.svg', 'eval-loss.png'] as const;

interface Row {
  optimizer: string;
  finalTrainLoss: number;
  finalTestLoss: number;
  bestTestLoss: number;
  steps: number;
  seconds: number;
  divergedAt?: number;
}

async function evalAction(flags: EvalFlags, cmd: Command): Promise<void> {
  const { g, out, backend } = await start(cmd);
  const baselines = flags.baseline.length > 0 ? flags.baseline : ['Adam'];
  // Every optimizer is built (and every name checked) before any training starts.
  if (!flags.theta && !flags.lopt)
    throw new CliError('give --theta <file>, or --lopt Celo2 (which has a published theta)');
  const runs = [{ ...(await chooseOptimizer({ lopt: flags.lopt, theta: flags.theta }, g)), short: 'learned' }];
  const disposeAll = () => {
    for (const r of runs) r.dispose();
  };
  let task: Awaited<ReturnType<typeof loadTask>>;
  let folder: ReturnType<typeof claimOutputFolder>;
  try {
    for (const b of baselines) runs.push({ ...(await chooseOptimizer({ optimizer: b, lr: flags.lr }, g)), short: b });
    task = await loadTask(flags.task, g);
    folder = claimOutputFolder({
      dir: flags.out,
      isDefault: cmd.getOptionValueSource('out') === 'default',
      outputs: EVAL_FILES,
      force: flags.force,
      command: 'eval',
      warn: (m) => out.warn(m),
    });
  } catch (e) {
    disposeAll();
    throw e;
  }
  const logEvery = Math.max(1, Math.floor(flags.steps / 20));
  const rows: Row[] = [];
  const curves: { label: string; curve: TrainCurve }[] = [];
  const interrupt = new Interrupt(out);
  try {
    for (const r of runs) {
      if (interrupt.requested) break;
      out.log(`training ${task.label} with ${r.label} for ${flags.steps} steps on ${backend}`);
      const bar = out.progress(flags.steps, r.short);
      let curve: TrainCurve;
      try {
        curve = await trainTask(task.task, r.opt, {
          steps: flags.steps,
          seed: g.seed,
          logEvery,
          onStep: (done, l) => bar.update(done, `loss ${l.toPrecision(4)}`),
          shouldStop: () => interrupt.requested,
        });
      } finally {
        bar.stop();
      }
      curves.push({ label: r.label, curve });
      const finite = curve.test.map(([, l]) => l).filter(Number.isFinite);
      const row: Row = {
        optimizer: r.label,
        finalTrainLoss: curve.train[curve.train.length - 1]!,
        finalTestLoss: curve.test[curve.test.length - 1]![1],
        bestTestLoss: finite.length > 0 ? Math.min(...finite) : Number.NaN,
        steps: curve.steps,
        seconds: curve.seconds,
        ...(curve.ended?.reason === 'diverged' ? { divergedAt: curve.ended.step } : {}),
      };
      if (curve.ended?.reason === 'diverged') out.warn(divergedMessage(r.label, curve.ended, ''));
      rows.push(row);
      out.record({ event: 'result', ...row });
    }
  } finally {
    interrupt.dispose();
    disposeAll();
  }
  const finiteOrString = (_k: string, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v);
  writeFileAtomic(
    join(folder.abs, 'eval.json'),
    `${JSON.stringify(
      {
        task: task.task.name,
        taskLabel: task.label,
        steps: flags.steps,
        seed: g.seed,
        ...(interrupt.requested ? { interrupted: true } : {}),
        rows,
        curves: curves.map((c) => ({ label: c.label, ...c.curve })),
      },
      finiteOrString,
    )}\n`,
  );
  const chart = await writeLineChart(join(folder.abs, 'eval-loss'), {
    title: `${task.task.name}: training loss`,
    xTitle: 'step',
    yTitle: 'train loss',
    series: curves.map((c) => ({
      name: c.label,
      points: c.curve.train.map((l, i) => [i, l] as const).filter(([, l]) => Number.isFinite(l)),
    })),
  });
  const table = newTable(['optimizer', 'final train loss', 'final test loss', 'best test loss', 'steps', 'seconds']);
  for (const r of rows) {
    const steps = r.divergedAt !== undefined ? `${r.steps} (diverged)` : String(r.steps);
    table.push([
      r.optimizer,
      fmt(r.finalTrainLoss),
      fmt(r.finalTestLoss),
      fmt(r.bestTestLoss),
      steps,
      r.seconds.toFixed(1),
    ]);
  }
  const head = interrupt.requested
    ? `interrupted (${interrupt.received}): ${rows.length} of ${runs.length} optimizers trained\n`
    : '';
  out.result(`${head}${table.toString()}\nwrote eval.json, eval-loss.svg and eval-loss.png in ${folder.shown}`, {
    event: interrupt.requested ? 'interrupted' : 'done',
    task: task.task.name,
    steps: flags.steps,
    rows,
    out: folder.abs,
    plot: { svg: chart.svg, png: chart.png },
  });
  if (interrupt.requested) process.exitCode = INTERRUPTED_EXIT_CODE;
}

/** The `lopt eval` command. */
export function evalCommand(): Command {
  return new Command('eval')
    .description(
      'Compare a learned optimizer (a theta file) against hand-designed baselines on a task, as a table and a plot.',
    )
    .option('--lopt <name>', 'learned optimizer (default: the one the theta file was written for)')
    .option('--theta <file>', 'theta of the learned optimizer (theta.json of `lopt meta-train`; not needed for Celo2)')
    .requiredOption('--task <name>', 'task to train, or a task family to draw one from with --seed (see `lopt tasks`)')
    .requiredOption('--steps <n>', 'training steps of every optimizer', positiveInt)
    .option('--baseline <names>', 'hand-designed baselines, comma-separated or repeated (default: Adam)', commaList, [])
    .option('--lr <x>', "learning rate of the baselines (default: each one's own)", positiveNumber)
    .option(
      '--out <dir>',
      'folder for eval.json and eval-loss.svg/.png (default: .lopt-out/eval, or the next free .lopt-out/eval-N)',
      '.lopt-out/eval',
    )
    .option('--force', "replace an earlier evaluation's files in --out", false)
    .addHelpText(
      'after',
      `
Every optimizer starts from the same parameters (drawn from --seed). A folder given with --out
that holds an earlier evaluation is refused unless --force. Ctrl-C (SIGINT) or SIGTERM finishes
the current step, writes the table and plot of what ran, and exits with code 130.

Example:
  lopt eval --theta runs/la-quad/theta.json --task FixedDimQuadraticFamily --steps 200 --baseline adam,sgd`,
    )
    .action(evalAction);
}
