import type { Optimizer } from '@lopt/optimizers';
import { random } from '@lopt/pytree';
import type { Task } from '@lopt/tasks';
import { type TrainingCurves, type TrainingCurvesOptions, trainingCurves } from './eval-training.js';

/** Options of {@link evaluateOptimizer}: {@link TrainingCurvesOptions} with seeds instead of a key. */
export interface EvaluateOptimizerOptions extends Omit<TrainingCurvesOptions, 'key' | 'onStep'> {
  /** One run per seed, with key `PRNGKey(seed)` (default `[0, 1, 2]`). */
  seeds?: readonly number[];
  /** Called after every step of every run. */
  onStep?: (seed: number, done: number, trainLoss: number) => void;
}

/** Mean, standard deviation and per-seed values of one number across seeds. */
export interface SeedStats {
  /** Mean over seeds (NaN when any run's value is not finite). */
  mean: number;
  /** Population standard deviation over seeds. */
  std: number;
  /** The value of each seed, in seed order. */
  perSeed: number[];
}

/** One optimizer's runs on one task. */
export interface EvalResult {
  /** The optimizer's label. */
  name: string;
  /** The task's name. */
  task: string;
  /** The seeds, in run order. */
  seeds: number[];
  /** The curves of each seed. */
  runs: TrainingCurves[];
  /** Loss of each split at the final evaluation (after the last step), across seeds. */
  finalLoss: Record<string, SeedStats>;
  /** Loss of each split at the first evaluation (before any step), across seeds. */
  initialLoss: Record<string, SeedStats>;
}

/** Mean, std and values of `xs`. */
export function seedStats(xs: number[]): SeedStats {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
  return { mean, std, perSeed: xs.slice() };
}

/**
 * Trains `task` with the optimizer once per seed ({@link trainingCurves} with key
 * `PRNGKey(seed)`) and summarises the final and initial evaluation losses across seeds.
 * Every run starts from the data position the first one started from, so all runs (and
 * all optimizers evaluated this way) see the same batches for the same seed.
 */
export async function evaluateOptimizer(
  task: Task,
  opt: Optimizer,
  opts: EvaluateOptimizerOptions & { name?: string },
): Promise<EvalResult> {
  const seeds = (opts.seeds ?? [0, 1, 2]).slice();
  if (seeds.length === 0 || seeds.some((s) => !Number.isInteger(s))) {
    throw new Error(`evaluateOptimizer: seeds must be a non-empty list of integers, got ${JSON.stringify(opts.seeds)}`);
  }
  const { seeds: _s, onStep, name, ...rest } = opts;
  const runs: TrainingCurves[] = [];
  for (const seed of seeds) {
    runs.push(
      await trainingCurves(task, opt, {
        ...rest,
        key: random.PRNGKey(seed),
        restoreData: rest.restoreData ?? true,
        onStep: onStep ? (d, l) => onStep(seed, d, l) : undefined,
      }),
    );
  }
  const splits = Object.keys(runs[0]!.eval);
  const stat = (pick: (l: number[]) => number) =>
    Object.fromEntries(splits.map((s) => [s, seedStats(runs.map((r) => pick(r.eval[s]!.loss)))]));
  return {
    name: name ?? opt.name,
    task: task.name,
    seeds,
    runs,
    finalLoss: stat((l) => l[l.length - 1]!),
    initialLoss: stat((l) => l[0]!),
  };
}
