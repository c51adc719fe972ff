import { basename, join } from 'node:path';
import { Adam, type Optimizer } from '@lopt/optimizers';
import {
  adamLabel,
  DEFAULT_ADAM_LEARNING_RATES,
  type EvalResult,
  evaluateOptimizer,
  formatNumber,
  normalizedScore,
  type PlotSeries,
  plotSeries,
} from '@lopt/outer-trainers';
import { Command, InvalidArgumentError } from 'commander';
import { writeLineChart } from '../charts.js';
import { start } from '../context.js';
import { CliError, oneLine } from '../errors.js';
import { writeFileAtomic } from '../files.js';
import { INTERRUPTED_EXIT_CODE, Interrupt } from '../interrupt.js';
import { commaList, positiveInt, positiveNumber } from '../parse.js';
import { claimOutputFolder } from '../run-folder.js';
import { newTable } from '../table.js';
import { loadTask } from '../task-registry.js';
import { chooseOptimizer } from './train.js';

interface EvalFlags {
  lopt?: string;
  theta?: string;
  task: string;
  steps: number;
  baseline: string[];
  lr?: number;
  seeds: number;
  adamGrid?: number[] | true;
  adamLr: number;
  evalEvery: number;
  out: string;
  force: boolean;
}

/** Files `eval` writes into its folder. */
export const EVAL_FILES = [
  'eval.json',
  'eval.md',
  'eval-loss.svg',
  'eval-loss.png',
  'eval-test.svg',
  'eval-test.png',
] as const;

/** One optimizer's line of the table (and of `eval.json`'s `rows`). */
export interface EvalRow {
  /** The optimizer's label. */
  optimizer: string;
  /** Mean over seeds of the final train-split loss (after the last step). */
  finalTrainLoss: number;
  /** Its standard deviation over seeds. */
  finalTrainLossStd: number;
  /** Mean over seeds of the final test-split loss (the train split's for tasks without data). */
  finalTestLoss: number;
  /** Its standard deviation over seeds. */
  finalTestLossStd: number;
  /** The lowest mean test loss over the evaluations. */
  bestTestLoss: number;
  /** Normalised scores per split against the best Adam of `--adam-grid` (absent without it). */
  score?: Record<string, number>;
  /** Steps of each run. */
  steps: number;
  /** Wall time of all seeds, seconds. */
  seconds: number;
  /** The first step whose training loss was not finite, in any seed. */
  divergedAt?: number;
  /** Stopped by a signal: the last training loss of the seed that was running, no evaluation. */
  interrupted?: boolean;
  /** Whether it is Adam at `--adam-lr`, or the best of the grid. */
  role?: 'adam' | 'best-adam' | 'grid';
}

/** `--adam-grid` without a value: the library's default grid; with one, a comma-separated list. */
function learningRateList(value: string, previous: number[] | true | undefined): number[] {
  const prev = Array.isArray(previous) ? previous : [];
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new InvalidArgumentError(`'${value}' is not a list of learning rates.`);
  return [...prev, ...items.map((s) => positiveNumber(s))];
}

class Stopped extends Error {}

/** The mean training-loss curve's first non-finite step, across seeds. */
function divergedAt(r: EvalResult): number | undefined {
  let at: number | undefined;
  for (const run of r.runs) {
    const i = run.trainLoss.findIndex((l) => !Number.isFinite(l));
    if (i >= 0 && (at === undefined || i < at)) at = i;
  }
  return at;
}

function rowOf(r: EvalResult, testSplit: string, seconds: number, steps: number): EvalRow {
  const xs = r.runs[0]!.evalXs;
  const meanTest = xs.map((_, i) => r.runs.reduce((s, run) => s + run.eval[testSplit]!.loss[i]!, 0) / r.runs.length);
  const finite = meanTest.filter(Number.isFinite);
  const at = divergedAt(r);
  return {
    optimizer: r.name,
    finalTrainLoss: r.finalLoss.train!.mean,
    finalTrainLossStd: r.finalLoss.train!.std,
    finalTestLoss: r.finalLoss[testSplit]!.mean,
    finalTestLossStd: r.finalLoss[testSplit]!.std,
    bestTestLoss: finite.length > 0 ? Math.min(...finite) : Number.NaN,
    steps,
    seconds,
    ...(at !== undefined ? { divergedAt: at } : {}),
  };
}

const cell = (mean: number, std: number, seeds: number) =>
  seeds > 1 && Number.isFinite(mean) ? `${formatNumber(mean)} ± ${formatNumber(std)}` : formatNumber(mean);

/** The table's header and cells, for the terminal and for `eval.md`. */
function tableCells(rows: EvalRow[], seeds: number, splits: string[], scored: boolean): [string[], string[][]] {
  const header = [
    'optimizer',
    'final train loss',
    ...(splits.includes('test') ? ['final test loss', 'best test loss'] : []),
    ...(scored ? splits.map((s) => `${s} score`) : []),
    'steps',
    'seconds',
  ];
  const body = rows.map((r) => [
    r.role === 'best-adam' ? `best of Adam grid: ${r.optimizer}` : r.optimizer,
    cell(r.finalTrainLoss, r.finalTrainLossStd, seeds),
    ...(splits.includes('test')
      ? [cell(r.finalTestLoss, r.finalTestLossStd, seeds), formatNumber(r.bestTestLoss)]
      : []),
    ...(scored ? splits.map((s) => formatNumber(r.score?.[s] ?? Number.NaN)) : []),
    r.divergedAt !== undefined ? `${r.steps} (diverged at ${r.divergedAt})` : String(r.steps),
    r.seconds.toFixed(1),
  ]);
  return [header, body];
}

function markdown(header: string[], body: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map((_, i) => (i === 0 ? '---' : '---:'))), ...body.map(line)].join('\n');
}

async function evalAction(flags: EvalFlags, cmd: Command): Promise<void> {
  const { g, out, backend } = await start(cmd);
  const baselines = flags.baseline.length > 0 ? flags.baseline : flags.adamGrid ? [] : ['Adam'];
  const grid =
    flags.adamGrid === undefined
      ? undefined
      : flags.adamGrid === true
        ? [...DEFAULT_ADAM_LEARNING_RATES]
        : flags.adamGrid;
  // Every optimizer is built (and every name checked) before any training starts.
  if (!flags.theta && !flags.lopt)
    throw new CliError('give --theta <file>, or --lopt Celo2 (which has a published theta)');
  type Entry = { opt: Optimizer; label: string; dispose: () => void; role?: EvalRow['role']; lr?: number };
  const runs: Entry[] = [await chooseOptimizer({ lopt: flags.lopt, theta: flags.theta }, g)];
  const disposeAll = () => {
    for (const r of runs) r.dispose();
  };
  let task: Awaited<ReturnType<typeof loadTask>>;
  let folder: ReturnType<typeof claimOutputFolder>;
  try {
    for (const b of baselines) runs.push(await chooseOptimizer({ optimizer: b, lr: flags.lr }, g));
    if (grid) {
      // Adam at --adam-lr is reported on its own row; it joins the grid when missing.
      const lrs = [...new Set(grid.includes(flags.adamLr) ? grid : [...grid, flags.adamLr])].sort((a, b) => a - b);
      for (const lr of lrs)
        runs.push({
          opt: new Adam(lr),
          label: adamLabel(lr),
          dispose: () => {},
          role: lr === flags.adamLr ? 'adam' : 'grid',
          lr,
        });
    }
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
  const seeds = Array.from({ length: flags.seeds }, (_, i) => g.seed + i);
  const hasData = task.task.datasets !== undefined;
  const splits = hasData ? ['train', 'test'] : ['train'];
  const testSplit = hasData ? 'test' : 'train';
  const results: EvalResult[] = [];
  const rows: EvalRow[] = [];
  let interrupted: { label: string; train: number[] } | undefined;
  const interrupt = new Interrupt(out);
  try {
    for (const r of runs) {
      if (interrupt.requested) break;
      out.log(
        `training ${task.label} with ${r.label} for ${flags.steps} steps, seed${seeds.length > 1 ? 's' : ''} ${seeds.join(', ')}, on ${backend}`,
      );
      const bar = out.progress(flags.steps * seeds.length, r.label.slice(0, 24));
      const t0 = Date.now();
      let res: EvalResult;
      // The running seed's training losses: what an interrupted run leaves to report.
      let partial: number[] = [];
      try {
        res = await evaluateOptimizer(task.task, r.opt, {
          name: r.label,
          seeds,
          numSteps: flags.steps,
          evalEvery: flags.evalEvery,
          splits,
          yieldEvery: 10, // lets the bar draw and a signal in
          onStep: (seed, done, l) => {
            // Stopping mid-run: the library's loop frees its tensors as the error passes.
            if (interrupt.requested) throw new Stopped();
            if (done === 1) partial = [];
            partial.push(l);
            bar.update((seed - g.seed) * flags.steps + done, `loss ${l.toPrecision(4)}`);
          },
        });
      } catch (e) {
        if (e instanceof Stopped) {
          if (partial.length > 0) {
            const row: EvalRow = {
              optimizer: r.label,
              finalTrainLoss: partial[partial.length - 1]!,
              finalTrainLossStd: Number.NaN,
              finalTestLoss: Number.NaN,
              finalTestLossStd: Number.NaN,
              bestTestLoss: Number.NaN,
              steps: partial.length,
              seconds: (Date.now() - t0) / 1000,
              interrupted: true,
            };
            rows.push(row);
            interrupted = { label: r.label, train: partial };
            out.record({ event: 'result', ...row });
          }
          break;
        }
        throw new CliError(`evaluating ${r.label} on ${task.task.name}: ${oneLine(e)}`);
      } finally {
        bar.stop();
      }
      const row = {
        ...rowOf(res, testSplit, (Date.now() - t0) / 1000, flags.steps),
        ...(r.role ? { role: r.role } : {}),
      };
      if (row.divergedAt !== undefined)
        out.warn(`the training loss of ${r.label} stopped being finite at step ${row.divergedAt}`);
      results.push(res);
      rows.push(row);
      out.record({ event: 'result', ...row });
    }
  } finally {
    interrupt.dispose();
    disposeAll();
  }

  // Normalised scores against the best Adam of the grid (lowest mean final train loss), as the library's compareWithAdam.
  let best: { lr: number; row: EvalRow } | undefined;
  let scoreError: string | undefined;
  const gridRows = rows.filter((r) => r.role === 'adam' || r.role === 'grid');
  if (grid && gridRows.length > 0) {
    let bi = -1;
    gridRows.forEach((r, i) => {
      if (Number.isFinite(r.finalTrainLoss) && (bi < 0 || r.finalTrainLoss < gridRows[bi]!.finalTrainLoss)) bi = i;
    });
    if (bi < 0) scoreError = 'every learning rate of the Adam grid diverged: no scores';
    else {
      const bestRes = results[rows.indexOf(gridRows[bi]!)]!;
      best = { lr: runs[rows.indexOf(gridRows[bi]!)]!.lr!, row: gridRows[bi]! };
      try {
        for (const [i, row] of rows.entries()) {
          if (!results[i]) continue;
          row.score = Object.fromEntries(
            splits.map((s) => [
              s,
              normalizedScore(
                results[i]!.finalLoss[s]!.mean,
                results[i]!.initialLoss[s]!.mean,
                bestRes.finalLoss[s]!.mean,
              ),
            ]),
          );
        }
      } catch (e) {
        scoreError = oneLine(e).replace(/^normalizedScore: /, '');
        for (const row of rows) delete row.score;
      }
    }
    if (scoreError) out.warn(scoreError);
  }
  // The table: candidates, Adam at --adam-lr, the best of the grid; the rest of the grid is in eval.json.
  const shown = rows.filter((r) => r.role === undefined || r.role === 'adam');
  if (best) shown.push({ ...best.row, role: 'best-adam' });
  const scored = rows.some((r) => r.score);
  const [header, body] = tableCells(shown, seeds.length, splits, scored);
  const table = newTable(header);
  for (const b of body) table.push(b);
  writeFileAtomic(
    join(folder.abs, 'eval.md'),
    `# ${task.task.name}: ${flags.steps} steps, seed${seeds.length > 1 ? 's' : ''} ${seeds.join(', ')}\n\n${markdown(header, body)}\n${
      scored
        ? `\nScores: (initial loss - final loss) / (initial loss - the best Adam's final loss), per split; 1 matches the best Adam of the grid (${grid!.join(', ')}), above 1 beats it.\n`
        : ''
    }`,
  );
  const finiteOrString = (_k: string, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v);
  const trainSeries: PlotSeries[] = [
    ...plotSeries(results, { curve: 'train' }),
    ...(interrupted
      ? [
          {
            name: `${interrupted.label} (interrupted)`,
            points: interrupted.train.map((l, i) => [i, l] as [number, number]),
          },
        ]
      : []),
  ];
  const testSeries = hasData ? plotSeries(results, { curve: 'eval', split: 'test' }) : [];
  writeFileAtomic(
    join(folder.abs, 'eval.json'),
    `${JSON.stringify(
      {
        task: task.task.name,
        taskLabel: task.label,
        steps: flags.steps,
        seed: g.seed,
        seeds,
        ...(grid ? { adamGrid: grid, adamLr: flags.adamLr, bestAdamLearningRate: best?.lr ?? null } : {}),
        ...(scoreError ? { scoreError } : {}),
        ...(interrupt.requested ? { interrupted: true } : {}),
        rows,
        // Mean curves over seeds (train: every step; test: every evaluation), for `lopt plot`.
        curves: trainSeries.map((t, i) => ({
          label: rows[i]!.optimizer,
          train: t.points.map(([, y]) => y),
          ...(hasData && testSeries[i] ? { test: testSeries[i]!.points } : {}),
        })),
        results: results.map((r) => ({
          name: r.name,
          seeds: r.seeds,
          finalLoss: r.finalLoss,
          initialLoss: r.initialLoss,
          runs: r.runs,
        })),
      },
      finiteOrString,
    )}\n`,
  );
  const charts = await writeEvalCharts(folder.abs, task.task.name, trainSeries, testSeries, seeds.length);
  const head = interrupt.requested
    ? `interrupted (${interrupt.received}): ${rows.length} of ${runs.length} optimizers evaluated\n`
    : '';
  const files = ['eval.json', 'eval.md', ...charts.flatMap((c) => [c.svg, c.png].map((f) => basename(f)))];
  out.result(
    `${head}${table.toString()}\nwrote ${files.slice(0, -1).join(', ')} and ${files[files.length - 1]} in ${folder.shown}`,
    {
      event: interrupt.requested ? 'interrupted' : 'done',
      task: task.task.name,
      steps: flags.steps,
      seeds,
      rows,
      ...(grid ? { bestAdamLearningRate: best?.lr ?? null } : {}),
      out: folder.abs,
      plot: { svg: charts[0]!.svg, png: charts[0]!.png },
      plots: charts.map((c) => ({ svg: c.svg, png: c.png })),
    },
  );
  if (interrupt.requested) process.exitCode = INTERRUPTED_EXIT_CODE;
}

/** The charts of an evaluation: mean training loss per step, and mean test loss per evaluation (tasks with data). */
export async function writeEvalCharts(
  dir: string,
  taskName: string,
  train: PlotSeries[],
  test: PlotSeries[],
  seeds: number,
): Promise<Awaited<ReturnType<typeof writeLineChart>>[]> {
  const over = seeds > 1 ? ` (mean of ${seeds} seeds)` : '';
  const charts = [
    await writeLineChart(join(dir, 'eval-loss'), {
      title: `${taskName}: training loss${over}`,
      xTitle: 'step',
      yTitle: 'train loss',
      series: train,
    }),
  ];
  if (test.length > 0) {
    charts.push(
      await writeLineChart(join(dir, 'eval-test'), {
        title: `${taskName}: test loss${over}`,
        xTitle: 'step',
        yTitle: 'test loss',
        series: test,
      }),
    );
  }
  return charts;
}

/** The `lopt eval` command. */
export function evalCommand(): Command {
  return new Command('eval')
    .description(
      "Compare a learned optimizer (a theta file) against hand-designed baselines and an Adam learning-rate grid on a task, over several seeds, with the library's evaluateOptimizer: a table (printed and eval.md), eval.json and plots of the train and test curves.",
    )
    .option('--lopt <name>', 'learned optimizer (default: the one the theta file was written for)')
    .option('--theta <file>', 'theta of the learned optimizer (theta.json of `lopt meta-train`; not needed for Celo2)')
    .requiredOption('--task <name>', 'task to train, or a task family to draw one from with --seed (see `lopt tasks`)')
    .requiredOption('--steps <n>', 'training steps of every optimizer', positiveInt)
    .option(
      '--baseline <names>',
      'hand-designed baselines, comma-separated or repeated (default: Adam, or none with --adam-grid)',
      commaList,
      [],
    )
    .option('--lr <x>', "learning rate of the baselines (default: each one's own)", positiveNumber)
    .option(
      '--seeds <n>',
      'runs per optimizer, with seeds --seed, --seed + 1, ... (initial parameters and keys)',
      positiveInt,
      1,
    )
    .option(
      '--adam-grid [lrs]',
      `also run Adam at each of these learning rates (comma-separated; without a value: ${DEFAULT_ADAM_LEARNING_RATES.join(', ')}) and score every optimizer against the best of them (normalised score: 1 matches it, above 1 beats it)`,
      learningRateList,
    )
    .option(
      '--adam-lr <x>',
      'with --adam-grid: the fixed-rate Adam shown on its own row (added to the grid)',
      positiveNumber,
      1e-3,
    )
    .option(
      '--eval-every <n>',
      'evaluate the train and test losses every n steps (and after the last)',
      positiveInt,
      10,
    )
    .option(
      '--out <dir>',
      'folder for eval.json, eval.md, eval-loss.svg/.png and eval-test.svg/.png (default: .lopt-out/eval, or the next free .lopt-out/eval-N)',
      '.lopt-out/eval',
    )
    .option('--force', "replace an earlier evaluation's files in --out", false)
    .addHelpText(
      'after',
      `
Every optimizer starts, for each seed, from the same parameters and sees the same batches.
Losses in the table are the final evaluation's (after the last step; mean ± standard
deviation over seeds). A folder given with --out that holds an earlier evaluation is refused
unless --force. Ctrl-C (SIGINT) or SIGTERM stops the optimizer being trained, writes the
table and plots of those that finished, and exits with code 130.

Examples:
  lopt eval --theta runs/la-quad/theta.json --task FixedDimQuadraticFamily --steps 200 --baseline adam,sgd
  lopt eval --lopt Celo2 --task ImageMLP_FashionMnist8_Relu32 --steps 100 --seeds 2 --adam-grid 0.001,0.01,0.1 --out runs/celo2-eval`,
    )
    .action(evalAction);
}
