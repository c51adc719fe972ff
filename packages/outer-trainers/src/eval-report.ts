import type { Comparison, ComparisonRow } from './adam-baselines.js';
import type { EvalResult } from './evaluate-optimizer.js';

/** A line of a plot: a name and `[x, y]` points. */
export interface PlotSeries {
  /** Legend label. */
  name: string;
  /** Points in x order. */
  points: [number, number][];
}

/** Formats a number for tables: 4 significant digits, 'diverged' for non-finite values. */
export function formatNumber(x: number): string {
  if (x === Number.NEGATIVE_INFINITY || Number.isNaN(x) || x === Number.POSITIVE_INFINITY) return 'diverged';
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? x.toExponential(3) : x.toPrecision(4);
}

/**
 * Comparison rows as a table: one row per optimizer, columns for the mean final loss
 * (± its standard deviation across seeds) and the normalised score of each split.
 * `'markdown'` gives a GitHub table (for docs pages), `'text'` aligned columns (for terminals).
 */
export function formatComparisonTable(
  rows: readonly ComparisonRow[],
  format: 'markdown' | 'text' = 'markdown',
): string {
  if (rows.length === 0) throw new Error('formatComparisonTable: no rows');
  const splits = Object.keys(rows[0]!.finalLoss);
  const header = ['optimizer', ...splits.flatMap((s) => [`final ${s} loss`, `${s} score`])];
  const body = rows.map((r) => [
    r.optimizer,
    ...splits.flatMap((s) => [
      `${formatNumber(r.finalLoss[s]!)} ± ${formatNumber(r.finalLossStd[s]!)}`,
      formatNumber(r.score[s]!),
    ]),
  ]);
  if (format === 'markdown') {
    const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
    return [line(header), line(header.map((_, i) => (i === 0 ? '---' : '---:'))), ...body.map(line)].join('\n');
  }
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/**
 * Plot data of results: per optimizer, the mean over seeds of the training loss at each
 * step (`curve: 'train'`, smoothed by an exponential moving average with `ema`, default
 * 0 = none) or of the evaluation loss of `split` at each evaluation (`curve: 'eval'`).
 * Plain data, for any chart library (the CLI's SVG charts take it as is).
 */
export function plotSeries(
  results: readonly EvalResult[],
  opts: { curve?: 'train' | 'eval'; split?: string; ema?: number } = {},
): PlotSeries[] {
  const { curve = 'train', split = 'test', ema = 0 } = opts;
  if (!(ema >= 0 && ema < 1)) throw new Error(`plotSeries: ema must be in [0, 1), got ${ema}`);
  return results.map((r) => {
    const runs = r.runs;
    if (curve === 'train') {
      const xs = runs[0]!.trainXs;
      const mean = xs.map((_, i) => runs.reduce((s, run) => s + run.trainLoss[i]!, 0) / runs.length);
      let acc = mean[0]!;
      const smooth = mean.map((v) => (acc = ema * acc + (1 - ema) * v));
      return { name: r.name, points: xs.map((x, i) => [x, smooth[i]!] as [number, number]) };
    }
    if (!(split in runs[0]!.eval)) throw new Error(`plotSeries: '${split}' is not an evaluated split of ${r.name}`);
    const xs = runs[0]!.evalXs;
    return {
      name: r.name,
      points: xs.map(
        (x, i) => [x, runs.reduce((s, run) => s + run.eval[split]!.loss[i]!, 0) / runs.length] as [number, number],
      ),
    };
  });
}

/** A comparison as plain JSON-ready data: rows, the grid's best rate, and plot series of train and test curves. */
export function comparisonReport(c: Comparison): {
  task: string;
  rows: ComparisonRow[];
  bestAdamLearningRate: number;
  train: PlotSeries[];
  test: PlotSeries[];
} {
  const hasTest = 'test' in c.results[0]!.runs[0]!.eval;
  return {
    task: c.task,
    rows: c.rows,
    bestAdamLearningRate: c.grid.learningRates[c.grid.bestIndex]!,
    train: plotSeries(c.results, { curve: 'train' }),
    test: hasTest ? plotSeries(c.results, { curve: 'eval', split: 'test' }) : [],
  };
}
