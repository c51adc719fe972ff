import { Adam, type Optimizer } from '@lopt/optimizers';
import type { Task } from '@lopt/tasks';
import { type EvalResult, type EvaluateOptimizerOptions, evaluateOptimizer } from './evaluate-optimizer.js';
import { normalizedScore } from './normalized-score.js';

/** The default learning-rate grid of {@link adamLearningRateGrid}: 1e-4 to 1e-1 in half-decades. */
export const DEFAULT_ADAM_LEARNING_RATES: readonly number[] = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1];

/** Options of {@link adamLearningRateGrid}. */
export interface AdamGridOptions extends EvaluateOptimizerOptions {
  /** Learning rates to try (default {@link DEFAULT_ADAM_LEARNING_RATES}). */
  learningRates?: readonly number[];
  /** The split whose final loss picks the best learning rate (default `'train'`). */
  selectBy?: string;
}

/** The runs of Adam over a learning-rate grid, and the best of them. */
export interface AdamGrid {
  /** The learning rates, in grid order. */
  learningRates: number[];
  /** One result per learning rate (named `Adam(lr)`). */
  results: EvalResult[];
  /** Index of the best learning rate: lowest mean final loss of `selectBy` (diverged runs never win). */
  bestIndex: number;
  /** The split the best was chosen by. */
  selectBy: string;
}

/** Label of Adam at `lr` in tables and plots. */
export function adamLabel(lr: number): string {
  return `Adam(${lr})`;
}

/**
 * Adam at each learning rate of a grid on `task`, every run with the same seeds and data
 * (the reference's baselines: Adam learning-rate sweeps), and the best rate by the mean
 * final loss of split `selectBy`. Throws when every rate diverged.
 */
export async function adamLearningRateGrid(task: Task, opts: AdamGridOptions): Promise<AdamGrid> {
  const { learningRates = DEFAULT_ADAM_LEARNING_RATES, selectBy = 'train', ...rest } = opts;
  if (learningRates.length === 0 || learningRates.some((lr) => !(lr > 0) || !Number.isFinite(lr))) {
    throw new Error(
      `adamLearningRateGrid: learningRates must be positive numbers, got ${JSON.stringify(learningRates)}`,
    );
  }
  const results: EvalResult[] = [];
  for (const lr of learningRates)
    results.push(await evaluateOptimizer(task, new Adam(lr), { ...rest, name: adamLabel(lr) }));
  if (!(selectBy in results[0]!.finalLoss)) {
    throw new Error(
      `adamLearningRateGrid: selectBy '${selectBy}' is not an evaluated split (${Object.keys(results[0]!.finalLoss).join(', ')})`,
    );
  }
  let bestIndex = -1;
  results.forEach((r, i) => {
    const m = r.finalLoss[selectBy]!.mean;
    if (Number.isFinite(m) && (bestIndex < 0 || m < results[bestIndex]!.finalLoss[selectBy]!.mean)) bestIndex = i;
  });
  if (bestIndex < 0) throw new Error(`adamLearningRateGrid: every learning rate diverged on ${task.name}`);
  return { learningRates: learningRates.slice(), results, bestIndex, selectBy };
}

/** One row of a comparison: an optimizer's final losses and normalised scores on one task. */
export interface ComparisonRow {
  /** The optimizer's label. */
  optimizer: string;
  /** The task's name. */
  task: string;
  /** Mean final loss per split. */
  finalLoss: Record<string, number>;
  /** Standard deviation of the final loss across seeds, per split. */
  finalLossStd: Record<string, number>;
  /** `normalizedScore` of the mean final loss per split, against the best Adam of the grid. */
  score: Record<string, number>;
}

/** What {@link compareWithAdam} returns. */
export interface Comparison {
  /** The task's name. */
  task: string;
  /** Rows: the candidates, then Adam at `adamLearningRate`, then the best Adam of the grid. */
  rows: ComparisonRow[];
  /** Every run, candidates first, then the grid (for plots). */
  results: EvalResult[];
  /** The grid. */
  grid: AdamGrid;
}

/** Options of {@link compareWithAdam}. */
export interface CompareWithAdamOptions extends AdamGridOptions {
  /** The fixed-rate Adam reported as its own row (default 1e-3); it is added to the grid when missing. */
  adamLearningRate?: number;
}

/**
 * Evaluates each candidate optimizer on `task` next to Adam at `adamLearningRate`
 * (default 1e-3) and the best Adam of a learning-rate grid, all with the same seeds and
 * data, and scores every final loss with {@link normalizedScore} against that best
 * Adam (initial loss: the mean first evaluation, which every optimizer shares).
 */
export async function compareWithAdam(
  task: Task,
  candidates: readonly { name: string; opt: Optimizer }[],
  opts: CompareWithAdamOptions,
): Promise<Comparison> {
  const { adamLearningRate = 1e-3, learningRates = DEFAULT_ADAM_LEARNING_RATES, ...rest } = opts;
  const lrs = learningRates.includes(adamLearningRate)
    ? learningRates.slice()
    : [...learningRates, adamLearningRate].sort((a, b) => a - b);
  const mine: EvalResult[] = [];
  for (const c of candidates) mine.push(await evaluateOptimizer(task, c.opt, { ...rest, name: c.name }));
  const grid = await adamLearningRateGrid(task, { ...rest, learningRates: lrs });
  const best = grid.results[grid.bestIndex]!;
  const fixed = grid.results[lrs.indexOf(adamLearningRate)]!;
  const splits = Object.keys(best.finalLoss);
  const row = (r: EvalResult, label: string): ComparisonRow => ({
    optimizer: label,
    task: task.name,
    finalLoss: Object.fromEntries(splits.map((s) => [s, r.finalLoss[s]!.mean])),
    finalLossStd: Object.fromEntries(splits.map((s) => [s, r.finalLoss[s]!.std])),
    score: Object.fromEntries(
      splits.map((s) => [s, normalizedScore(r.finalLoss[s]!.mean, r.initialLoss[s]!.mean, best.finalLoss[s]!.mean)]),
    ),
  });
  const rows = [
    ...mine.map((r) => row(r, r.name)),
    row(fixed, fixed.name),
    row(best, `best of Adam grid: ${best.name}`),
  ];
  return { task: task.name, rows, results: [...mine, ...grid.results], grid };
}
