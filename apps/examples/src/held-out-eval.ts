// Held-out evaluation of lopt's own learned optimizer (`adafacSmallFcV1Theta`) on six tasks
// outside its meta-training distribution, next to Celo2 with its published theta, Adam at
// 1e-3 and the best Adam of a learning-rate grid, three seeds each. Writes the results
// (JSON), a Markdown table and one SVG plot per task. Every finished (task, optimizer) cell
// is saved as it completes, so an interrupted run picks up where it stopped.
// Run: `npx tsx --conditions=@lopt/source src/held-out-eval.ts [outDir] [--tasks a,b] [--fresh] [--cached-only]`.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { mnistDatasets } from '@lopt/datasets';
import { asTfOptimizer } from '@lopt/layers';
import { AdafacMLPLOpt, adafacSmallFcV1Provenance, adafacSmallFcV1Theta, Celo2, celo2Theta } from '@lopt/learned';
import { Adam, type Optimizer } from '@lopt/optimizers';
import {
  adamLabel,
  type ComparisonRow,
  type EvalResult,
  evaluateOptimizer,
  formatComparisonTable,
  formatNumber,
  normalizedScore,
  plotSeries,
  seedStats,
  type TrainingCurves,
} from '@lopt/outer-trainers';
import { type PRNGKey, random, setupBackend, treeDispose } from '@lopt/pytree';
import { BaseTask, conv, imageMlp, lm, type Task } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { seriesSvg } from './svg-plot.js';

/** The optimizer under evaluation, and how it is labelled. */
export const LOPT_LABEL = 'lopt adafac-small-fc-v1';
/** Celo2's label. */
export const CELO2_LABEL = 'Celo2';
/** The Adam learning-rate grid (the fixed baseline, 1e-3, is one of them). */
export const ADAM_GRID: readonly number[] = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1];

/**
 * An ill-conditioned quadratic: `0.5 |A (w - w*)|^2` over 64 parameters, with `A = diag(s) Q^T`
 * for a random rotation `Q` and singular values `s` log-spaced from 0.01 to 1 (condition
 * number of the Hessian 1e4). The rotation makes it non-diagonal, so no per-parameter
 * preconditioner solves it outright. `A` and `w*` are fixed (key 1234); parameters start
 * standard normal from the run's key. No data.
 */
export class IllConditionedQuadratic extends BaseTask<tf.Tensor1D, unknown> {
  private readonly a: tf.Tensor2D;
  private readonly wStar: tf.Tensor1D;

  /** A fixed problem of `dim` parameters. */
  constructor(readonly dim = 64) {
    super();
    const [kq, kw] = random.split(random.PRNGKey(1234));
    const q = tf.tidy(() => tf.linalg.qr(random.normal(kq!, [dim, dim]) as tf.Tensor2D)[0]);
    const s = tf.tensor1d(Array.from({ length: dim }, (_, i) => 10 ** (-2 + (2 * i) / (dim - 1))));
    this.a = tf.tidy(() => tf.mul(tf.reshape(s, [dim, 1]), tf.transpose(q))) as tf.Tensor2D;
    this.wStar = random.normal(kw!, [dim]) as tf.Tensor1D;
    tf.dispose([q, s]);
  }

  override get name(): string {
    return `IllConditionedQuadratic_${this.dim}_cond1e4`;
  }

  /** Standard normal parameters. */
  init(key: PRNGKey): tf.Tensor1D {
    return random.normal(key, [this.dim]) as tf.Tensor1D;
  }

  /** `0.5 |A (w - w*)|^2`. */
  loss(params: tf.Tensor1D): tf.Scalar {
    return tf.tidy(() => {
      const r = tf.matMul(this.a, tf.reshape(tf.sub(params, this.wStar), [this.dim, 1]));
      return tf.mul(0.5, tf.sum(tf.square(r))) as tf.Scalar;
    });
  }

  /** Frees the fixed tensors. */
  dispose(): void {
    tf.dispose([this.a, this.wStar]);
  }
}

/** Where the example reads its data (`cacheRoot` / `dataDir`, `download`). */
export interface DataOptions {
  cacheRoot?: string;
  dataDir?: string;
  download?: boolean;
}

/** One held-out task: how to build it and how long to train. */
export interface HeldOutTask {
  /** Short id (file names, `--tasks`). */
  id: string;
  /** What the table calls it. */
  title: string;
  /** Training steps. */
  steps: number;
  /** Builds the lopt task (absent for the tfjs-layers model, trained by `model.fit`). */
  build?: (data: DataOptions) => Promise<Task> | Task;
}

/** The six held-out tasks. */
export const HELD_OUT_TASKS: readonly HeldOutTask[] = [
  {
    id: 'mlp-fmnist28-128x3',
    title: 'MLP 784-128-128-128-10 ReLU, 28x28 Fashion-MNIST, batch 128',
    steps: 150,
    build: (d) => imageMlp.ImageMLP_FashionMnist_128x128x128_Relu(d),
  },
  {
    id: 'conv-mnist28',
    title: 'Conv net 16-32-32 (3x3, stride 2), 28x28 MNIST, batch 32',
    steps: 100,
    build: (d) => conv.Conv_Mnist_16x32x32_Stride2({ ...d, batchSize: 32 }),
  },
  {
    id: 'layers-mnist28-tanh256',
    title: 'tfjs-layers Sequential 784-256 tanh-10 softmax, 28x28 MNIST, batch 64, model.fit',
    steps: 150,
  },
  {
    id: 'quadratic-cond1e4',
    title: 'Ill-conditioned quadratic, 64 parameters, rotated, condition number 1e4',
    steps: 300,
    build: () => new IllConditionedQuadratic(64),
  },
  {
    id: 'lm-gru64',
    title: 'GRU language model (64 units), Jargon File bytes, windows of 32, batch 16',
    steps: 60,
    build: (d) => lm.RNNLM_JargonByte_Patch32_GRU64_Embed32({ cacheRoot: d.cacheRoot, batchSize: 16 }),
  },
  {
    id: 'mlp-fmnist8-layernorm-tanh32',
    title: 'MLP 64-32-10 with LayerNorm and tanh, 8x8 Fashion-MNIST, batch 128',
    steps: 300,
    build: (d) => imageMlp.ImageMLP_FashionMnist8_LayerNorm_Tanh32(d),
  },
];

/** Options of {@link runHeldOutEval}. */
export interface HeldOutOptions {
  /** Where results, cells, table and plots go (created). */
  outDir: string;
  /** Seeds (default 0, 1, 2). */
  seeds?: readonly number[];
  /** Only these task ids (default all six). */
  tasks?: readonly string[];
  /** Multiplies every task's steps (tests shorten the run with it; default 1). */
  stepScale?: number;
  /** Where the datasets are. */
  data?: DataOptions;
  /** Ignore and overwrite cached cells. */
  fresh?: boolean;
  /** Train nothing: report the tasks whose cells are all saved, and leave the others out. */
  cachedOnly?: boolean;
  /** Where progress goes (default `console.log`). */
  log?: (...args: unknown[]) => void;
}

/** One task's summary in the results. */
export interface TaskSummary {
  id: string;
  title: string;
  task: string;
  steps: number;
  /** The split the table reports and the best Adam is chosen by (`test`, or `train` for data-free tasks). */
  split: string;
  /** Mean initial loss on that split (every optimizer starts from the same parameters). */
  initialLoss: number;
  bestAdamLearningRate: number;
  /** Table rows: lopt, Celo2, Adam 1e-3, best Adam. */
  rows: ComparisonRow[];
  /** Mean final loss of each Adam learning rate. */
  adamGrid: Record<string, number>;
  /** Does lopt / Celo2 end below Adam at 1e-3 (mean final loss on `split`)? */
  beatsAdam1e3: { lopt: boolean; celo2: boolean };
}

/** What {@link runHeldOutEval} writes to `results.json` and returns. */
export interface HeldOutResults {
  theta: typeof adafacSmallFcV1Provenance;
  seeds: number[];
  adamGrid: number[];
  backend: string;
  tasks: TaskSummary[];
  /** Tasks left out of this report because their runs had not finished (`cachedOnly`). */
  leftOut: string[];
  wins: { lopt: number; celo2: number; of: number };
  /** The Markdown table. */
  markdown: string;
}

type Cell = { key: unknown; result: EvalResult };

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

const slug = (s: string) => s.replace(/[^A-Za-z0-9.-]+/g, '_');

/** Runs (or resumes) the evaluation and writes `results.json`, `table.md` and `plots/<task>.svg`. */
export async function runHeldOutEval(opts: HeldOutOptions): Promise<HeldOutResults> {
  const { outDir, seeds = [0, 1, 2], stepScale = 1, data = {}, log = console.log } = opts;
  const tasks = HELD_OUT_TASKS.filter((t) => !opts.tasks || opts.tasks.includes(t.id));
  if (opts.tasks) {
    const unknown = opts.tasks.filter((id) => !HELD_OUT_TASKS.some((t) => t.id === id));
    if (unknown.length)
      throw new Error(`unknown task ${unknown.join(', ')}; tasks are ${HELD_OUT_TASKS.map((t) => t.id).join(', ')}`);
  }
  mkdirSync(join(outDir, 'cells'), { recursive: true });
  mkdirSync(join(outDir, 'plots'), { recursive: true });

  const lopt = new AdafacMLPLOpt(adafacSmallFcV1Provenance.learnedOptimizer.options);
  const loptTheta = adafacSmallFcV1Theta();
  const c2Theta = celo2Theta();
  const optimizers: { label: string; version: string; make: () => Optimizer }[] = [
    { label: LOPT_LABEL, version: adafacSmallFcV1Provenance.thetaSha256, make: () => lopt.optFn(loptTheta) },
    { label: CELO2_LABEL, version: 'published', make: () => new Celo2().optFn(c2Theta) },
    ...ADAM_GRID.map((lr) => ({ label: adamLabel(lr), version: '', make: () => new Adam(lr) })),
  ];

  const summaries: TaskSummary[] = [];
  const leftOut: string[] = [];
  try {
    for (const spec of tasks) {
      const steps = Math.max(10, Math.round(spec.steps * stepScale));
      if (opts.cachedOnly) {
        const missing = optimizers.filter(
          (o) => !existsSync(join(outDir, 'cells', `${spec.id}__${slug(o.label)}.json`)),
        );
        if (missing.length) {
          log(`${spec.id}: left out, no saved result for ${missing.map((o) => o.label).join(', ')}`);
          leftOut.push(spec.title);
          // The plot's place holds a note, so pages that show every task's plot still load.
          writeAtomic(
            join(outDir, 'plots', `${spec.id}.svg`),
            `<svg xmlns="http://www.w3.org/2000/svg" width="560" height="60" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/><text x="280" y="35" text-anchor="middle" font-size="14">${spec.id}: not evaluated in this run (its runs had not finished)</text></svg>\n`,
          );
          continue;
        }
      }
      const task = spec.build ? await spec.build(data) : undefined;
      const split = task && !task.datasets ? 'train' : 'test';
      const results: EvalResult[] = [];
      for (const o of optimizers) {
        const file = join(outDir, 'cells', `${spec.id}__${slug(o.label)}.json`);
        const key = { task: spec.id, steps, seeds, optimizer: o.label, version: o.version, format: 1 };
        if (!opts.fresh && existsSync(file)) {
          const cell = JSON.parse(readFileSync(file, 'utf8')) as Cell;
          if (JSON.stringify(cell.key) === JSON.stringify(key)) {
            results.push(cell.result);
            continue;
          }
        }
        if (opts.cachedOnly) throw new Error(`${file} was saved by another run (steps, seeds or theta differ)`);
        const t0 = Date.now();
        const result = task
          ? await evaluateOptimizer(task, o.make(), {
              name: o.label,
              numSteps: steps,
              seeds,
              evalEvery: Math.max(1, Math.round(steps / 5)),
              evalBatches: 2,
              lastEvalBatches: 10,
            })
          : await layersEval(o.label, o.make, steps, seeds, data);
        writeAtomic(file, JSON.stringify({ key, result } satisfies Cell));
        const fl = result.finalLoss[split]!;
        log(
          `${spec.id} ${o.label}: final ${split} loss ${formatNumber(fl.mean)} ± ${formatNumber(fl.std)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
        );
        results.push(result);
      }
      if (task instanceof IllConditionedQuadratic) task.dispose();
      const summary = summarize(spec, steps, split, results);
      summaries.push(summary);
      writeAtomic(join(outDir, 'plots', `${spec.id}.svg`), taskPlot(spec, summary, results, split));
      writeResults(outDir, summaries, seeds, leftOut);
    }
  } finally {
    treeDispose(loptTheta, c2Theta);
  }

  const out = writeResults(outDir, summaries, seeds, leftOut);
  log(out.markdown);
  return out;
}

// results.json and table.md of the tasks finished so far (rewritten after every task).
function writeResults(
  outDir: string,
  summaries: TaskSummary[],
  seeds: readonly number[],
  leftOut: readonly string[] = [],
): HeldOutResults {
  const out: HeldOutResults = {
    theta: adafacSmallFcV1Provenance,
    seeds: seeds.slice(),
    adamGrid: ADAM_GRID.slice(),
    backend: tf.getBackend(),
    tasks: summaries,
    leftOut: leftOut.slice(),
    wins: {
      lopt: summaries.filter((s) => s.beatsAdam1e3.lopt).length,
      celo2: summaries.filter((s) => s.beatsAdam1e3.celo2).length,
      of: summaries.length,
    },
    markdown: '',
  };
  out.markdown = markdownTable(out);
  writeAtomic(join(outDir, 'results.json'), `${JSON.stringify(out, null, 1)}\n`);
  writeAtomic(join(outDir, 'table.md'), out.markdown);
  return out;
}

function summarize(spec: HeldOutTask, steps: number, split: string, results: EvalResult[]): TaskSummary {
  const byName = new Map(results.map((r) => [r.name, r]));
  const adam = ADAM_GRID.map((lr) => byName.get(adamLabel(lr))!);
  let best = -1;
  adam.forEach((r, i) => {
    const m = r.finalLoss[split]!.mean;
    if (Number.isFinite(m) && (best < 0 || m < adam[best]!.finalLoss[split]!.mean)) best = i;
  });
  const bestAdam = adam[Math.max(best, 0)]!;
  const initialLoss = bestAdam.initialLoss[split]!.mean;
  const row = (r: EvalResult, label: string): ComparisonRow => {
    const splits = Object.keys(r.finalLoss);
    return {
      optimizer: label,
      task: r.task,
      finalLoss: Object.fromEntries(splits.map((s) => [s, r.finalLoss[s]!.mean])),
      finalLossStd: Object.fromEntries(splits.map((s) => [s, r.finalLoss[s]!.std])),
      score: Object.fromEntries(
        splits.map((s) => {
          const ref = bestAdam.finalLoss[s]!.mean;
          const init = r.initialLoss[s]!.mean;
          return [
            s,
            Number.isFinite(ref) && ref < init ? normalizedScore(r.finalLoss[s]!.mean, init, ref) : Number.NaN,
          ];
        }),
      ),
    };
  };
  const loptR = byName.get(LOPT_LABEL)!;
  const celo2R = byName.get(CELO2_LABEL)!;
  const fixed = byName.get(adamLabel(1e-3))!;
  const below = (r: EvalResult) => r.finalLoss[split]!.mean < fixed.finalLoss[split]!.mean;
  return {
    id: spec.id,
    title: spec.title,
    task: loptR.task,
    steps,
    split,
    initialLoss,
    bestAdamLearningRate: ADAM_GRID[Math.max(best, 0)]!,
    rows: [
      row(loptR, LOPT_LABEL),
      row(celo2R, CELO2_LABEL),
      row(fixed, adamLabel(1e-3)),
      row(bestAdam, `best Adam: ${bestAdam.name}`),
    ],
    adamGrid: Object.fromEntries(adam.map((r) => [r.name, r.finalLoss[split]!.mean])),
    beatsAdam1e3: { lopt: below(loptR), celo2: below(celo2R) },
  };
}

function cell(row: ComparisonRow, split: string): string {
  return `${formatNumber(row.finalLoss[split]!)} ± ${formatNumber(row.finalLossStd[split]!)}`;
}

/** The summary table: one row per task, final loss mean ± std over seeds, win or lose against Adam 1e-3. */
export function markdownTable(r: Omit<HeldOutResults, 'markdown'>): string {
  const head =
    '| task | steps | split | lopt adafac-small-fc-v1 | Celo2 | Adam(0.001) | best Adam (lr) | lopt vs Adam(0.001) | Celo2 vs Adam(0.001) |';
  const rule = '|---|---:|---|---:|---:|---:|---:|---|---|';
  const lines = r.tasks.map((s) => {
    const [l, c, a, b] = s.rows as [ComparisonRow, ComparisonRow, ComparisonRow, ComparisonRow];
    return `| ${s.title} | ${s.steps} | ${s.split} | ${cell(l, s.split)} | ${cell(c, s.split)} | ${cell(a, s.split)} | ${cell(b, s.split)} (${s.bestAdamLearningRate}) | ${s.beatsAdam1e3.lopt ? 'win' : 'lose'} | ${s.beatsAdam1e3.celo2 ? 'win' : 'lose'} |`;
  });
  const step = r.theta.outerStep;
  return [
    `Final loss (mean ± standard deviation over seeds ${r.seeds.join(', ')}; test split where the task has data), backend ${r.backend}; theta adafac-small-fc-v1 from outer step ${step} of ${r.theta.recipe.outerSteps}.`,
    '',
    head,
    rule,
    ...lines,
    '',
    `lopt adafac-small-fc-v1 beats Adam(0.001) on ${r.wins.lopt} of ${r.wins.of} tasks; Celo2 on ${r.wins.celo2} of ${r.wins.of}.`,
    '',
    ...(r.leftOut.length ? [`Not in this table (their runs had not finished): ${r.leftOut.join('; ')}.`, ''] : []),
    ...r.tasks.flatMap((s) => [`**${s.title}** (${s.task}, ${s.steps} steps)`, '', formatComparisonTable(s.rows), '']),
  ].join('\n');
}

function taskPlot(spec: HeldOutTask, s: TaskSummary, results: EvalResult[], split: string): string {
  const keep = [LOPT_LABEL, CELO2_LABEL, adamLabel(1e-3), adamLabel(s.bestAdamLearningRate)];
  const chosen = [...new Set(keep)].map((n) => results.find((r) => r.name === n)!);
  const cap = 3 * s.initialLoss;
  const train = plotSeries(chosen, { curve: 'train', ema: 0.9 });
  const evalCurves = plotSeries(chosen, { curve: 'eval', split });
  const logY = spec.id.startsWith('quadratic');
  return seriesSvg([
    { chart: { title: `${spec.id}: training loss (EMA 0.9)`, xLabel: 'step', logY, yMax: cap }, series: train },
    { chart: { title: `${spec.id}: ${split} loss`, xLabel: 'step', logY, yMax: cap }, series: evalCurves },
  ]);
}

/**
 * The tfjs-layers task: a Sequential model trained by `model.fit` with the optimizer wrapped
 * by `@lopt/layers`' `asTfOptimizer`, the way a tfjs-layers user would. Per seed: the
 * model's initialisers take the seed, and the training examples are the seed's own slice.
 * Curves: the training loss of every batch, the loss on 1000 test (and 1000 training)
 * images before training, every tenth of the run and at the end; summarised with the
 * evaluation API's `seedStats`.
 */
async function layersEval(
  label: string,
  make: () => Optimizer,
  steps: number,
  seeds: readonly number[],
  data: DataOptions,
): Promise<EvalResult> {
  const ds = await mnistDatasets({ ...data, imageSize: [28, 28] });
  const trainAll = ds.arrays('train');
  const testAll = ds.arrays('test');
  const batch = 64;
  const evalEvery = Math.max(1, Math.round(steps / 5));
  const runs: TrainingCurves[] = [];
  for (const seed of seeds) {
    const start = Date.now();
    const n = steps * batch;
    const offset = (seed * n) % (trainAll.count - n);
    const [xs, ys, xTest, yTest, xTrainEval, yTrainEval] = tf.tidy(() => {
      const oneHot = (labels: Int32Array) => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), 10), 'float32');
      return [
        tf.tensor2d(trainAll.images.subarray(offset * 784, (offset + n) * 784), [n, 784]),
        oneHot(trainAll.labels.subarray(offset, offset + n)),
        tf.tensor2d(testAll.images.subarray(0, 1000 * 784), [1000, 784]),
        oneHot(testAll.labels.subarray(0, 1000)),
        tf.tensor2d(trainAll.images.subarray(0, 1000 * 784), [1000, 784]),
        oneHot(trainAll.labels.subarray(0, 1000)),
      ];
    });
    const model = tfl.sequential({
      layers: [
        tfl.layers.dense({
          inputShape: [784],
          units: 256,
          activation: 'tanh',
          kernelInitializer: tfl.initializers.glorotUniform({ seed }),
        }),
        tfl.layers.dense({
          units: 10,
          activation: 'softmax',
          kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1000 }),
        }),
      ],
    });
    const optimizer = asTfOptimizer(make(), { name: slug(label), numSteps: steps });
    model.compile({ optimizer, loss: 'categoricalCrossentropy' });
    const curves: TrainingCurves = {
      trainXs: [],
      trainLoss: [],
      evalXs: [],
      eval: { train: { loss: [], normalizedLoss: [] }, test: { loss: [], normalizedLoss: [] } },
      seconds: 0,
    };
    const evaluate = (step: number) => {
      for (const [s, x, y] of [
        ['train', xTrainEval, yTrainEval],
        ['test', xTest, yTest],
      ] as const) {
        const l = tf.tidy(() => (model.evaluate(x, y, { batchSize: 500 }) as tf.Scalar).dataSync()[0]!);
        curves.eval[s]!.loss.push(l);
        curves.eval[s]!.normalizedLoss.push(l);
      }
      curves.evalXs.push(step);
    };
    evaluate(0);
    await model.fit(xs, ys, {
      batchSize: batch,
      epochs: 1,
      shuffle: false,
      verbose: 0,
      callbacks: {
        onBatchEnd: async (b, logs) => {
          curves.trainXs.push(b);
          curves.trainLoss.push(logs?.loss ?? Number.NaN);
          if ((b + 1) % evalEvery === 0 && b + 1 < steps) evaluate(b + 1);
        },
      },
    });
    evaluate(steps);
    curves.seconds = (Date.now() - start) / 1000;
    runs.push(curves);
    optimizer.dispose();
    model.dispose();
    tf.dispose([xs, ys, xTest, yTest, xTrainEval, yTrainEval]);
  }
  const stat = (pick: (l: number[]) => number) =>
    Object.fromEntries(['train', 'test'].map((s) => [s, seedStats(runs.map((r) => pick(r.eval[s]!.loss)))]));
  return {
    name: label,
    task: 'tfjs-layers Sequential 784-256-10 (MNIST)',
    seeds: seeds.slice(),
    runs,
    finalLoss: stat((l) => l[l.length - 1]!),
    initialLoss: stat((l) => l[0]!),
  };
}

/** SHA-256 of a results file, for the docs page to cite. */
export function fileSha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const tasks = flag('--tasks')?.split(',');
  const fresh = args.includes('--fresh');
  const cachedOnly = args.includes('--cached-only');
  const rest = args.filter((a) => a !== '--fresh' && a !== '--cached-only');
  const outDir = rest[0] ?? 'held-out-results';
  if (fresh) rmSync(join(outDir, 'cells'), { recursive: true, force: true });
  await setupBackend();
  await runHeldOutEval({ outDir, tasks, fresh, cachedOnly, data: { cacheRoot: process.env.LOPT_DATA_DIR } });
}
