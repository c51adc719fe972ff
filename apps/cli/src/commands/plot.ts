import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { type RenderedChart, writeLineChart } from '../charts.js';
import { start } from '../context.js';
import { CliError } from '../errors.js';
import { ensureWritableDir } from '../files.js';
import { RUN_FILES } from '../run-folder.js';

interface MetricsRecord {
  step: number;
  loss: number | string;
  theta?: Record<string, number>;
}

/** Reads a metrics JSON-lines file; a torn last line (a killed run) is skipped. */
export function readMetrics(path: string): MetricsRecord[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  const out: MetricsRecord[] = [];
  lines.forEach((l, i) => {
    if (!l.trim()) return;
    try {
      out.push(JSON.parse(l) as MetricsRecord);
    } catch {
      if (i < lines.length - 2) throw new CliError(`'${path}' line ${i + 1} is not JSON`);
    }
  });
  return out;
}

function runTitle(dir: string): string {
  const cfgPath = join(dir, RUN_FILES.config);
  if (!existsSync(cfgPath)) return dir;
  try {
    const c = JSON.parse(readFileSync(cfgPath, 'utf8')) as { lopt?: string; task?: string; estimator?: string };
    return `${c.lopt} on ${c.task} (${c.estimator})`;
  } catch {
    return dir;
  }
}

/** Charts of a `meta-train` folder: meta-loss, and theta per leaf. */
async function plotMetaTrain(dir: string, outDir: string, logY: boolean): Promise<RenderedChart[]> {
  const metricsPath = join(dir, RUN_FILES.metrics);
  const records = readMetrics(metricsPath);
  if (records.length === 0) throw new CliError(`'${metricsPath}' holds no outer steps yet`);
  const title = runTitle(dir);
  const charts = [
    await writeLineChart(join(outDir, 'meta-loss'), {
      title: `${title}: meta-loss`,
      xTitle: 'outer step',
      yTitle: 'meta-loss',
      logY,
      series: [{ name: 'meta-loss', points: records.map((r) => [r.step, Number(r.loss)] as const) }],
    }),
  ];
  const keys = [...new Set(records.flatMap((r) => Object.keys(r.theta ?? {})))].sort();
  if (keys.length > 0) {
    charts.push(
      await writeLineChart(join(outDir, 'theta'), {
        title: `${title}: theta (|x| is the norm of a tensor)`,
        xTitle: 'outer step',
        yTitle: 'value',
        facet: true,
        series: keys.map((k) => ({
          name: k,
          points: records.filter((r) => r.theta && k in r.theta).map((r) => [r.step, r.theta![k]!] as const),
        })),
      }),
    );
  }
  return charts;
}

/** Charts of a `demo part1` folder: meta-loss and learning rate. */
async function plotPart1(dir: string, outDir: string, logY: boolean): Promise<RenderedChart[]> {
  const recs = jsonLinesOf(join(dir, 'part1.jsonl')) as { step: number; metaLoss: number; learningRate: number }[];
  return [
    await writeLineChart(join(outDir, 'meta-loss'), {
      title: 'LearnableAdam (Part 1): meta-loss',
      xTitle: 'meta-iteration',
      yTitle: 'meta-loss',
      logY,
      series: [{ name: 'meta-loss', points: recs.map((r) => [r.step, r.metaLoss] as const) }],
    }),
    await writeLineChart(join(outDir, 'learning-rate'), {
      title: 'LearnableAdam (Part 1): learned learning rate',
      xTitle: 'meta-iteration',
      yTitle: 'learning rate (log scale)',
      logY: true,
      series: [{ name: 'learning rate', points: recs.map((r) => [r.step, r.learningRate] as const) }],
    }),
  ];
}

/** The charts of an `eval` folder: every optimizer's training loss, and its test loss when evaluated on data. */
async function plotEval(dir: string, outDir: string, logY: boolean): Promise<RenderedChart[]> {
  let doc: { task: string; curves: { label: string; train: number[]; test?: [number, number][] }[] };
  try {
    doc = JSON.parse(readFileSync(join(dir, 'eval.json'), 'utf8')) as typeof doc;
  } catch {
    throw new CliError(`'${join(dir, 'eval.json')}' is not valid JSON`);
  }
  return [
    await writeLineChart(join(outDir, 'eval-loss'), {
      title: `${doc.task}: training loss`,
      xTitle: 'step',
      yTitle: 'train loss',
      logY,
      series: doc.curves.map((c) => ({ name: c.label, points: c.train.map((l, i) => [i, l] as const) })),
    }),
    // Test losses at the evaluations (written by eval for tasks with data).
    ...(doc.curves.some((c) => c.test)
      ? [
          await writeLineChart(join(outDir, 'eval-test'), {
            title: `${doc.task}: test loss`,
            xTitle: 'step',
            yTitle: 'test loss',
            logY,
            series: doc.curves.filter((c) => c.test).map((c) => ({ name: c.label, points: c.test! })),
          }),
        ]
      : []),
  ];
}

/** The chart of a `train --out` folder: train and test loss at the logged steps. */
async function plotTrain(dir: string, outDir: string, logY: boolean): Promise<RenderedChart[]> {
  const recs = jsonLinesOf(join(dir, 'train.jsonl')) as { step: number; trainLoss: number; testLoss: number }[];
  return [
    await writeLineChart(join(outDir, 'train-loss'), {
      title: `training loss (${dir})`,
      xTitle: 'step',
      yTitle: 'loss',
      logY,
      series: [
        { name: 'train', points: recs.map((r) => [r.step, r.trainLoss] as const) },
        { name: 'test', points: recs.map((r) => [r.step, r.testLoss] as const) },
      ],
    }),
  ];
}

function jsonLinesOf(path: string): unknown[] {
  const recs = readMetrics(path) as unknown[];
  if (recs.length === 0) throw new CliError(`'${path}' holds no records`);
  return recs;
}

// What `plot` recognises in a folder, in this order.
const KINDS: [string, (dir: string, outDir: string, logY: boolean) => Promise<RenderedChart[]>][] = [
  [RUN_FILES.metrics, plotMetaTrain],
  ['part1.jsonl', plotPart1],
  ['eval.json', plotEval],
  ['train.jsonl', plotTrain],
];

async function plotAction(dir: string, flags: { out?: string; logY: boolean }, cmd: Command): Promise<void> {
  const { out } = await start(cmd, false);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CliError(`run folder '${dir}' does not exist`);
  const kind = KINDS.find(([file]) => existsSync(join(dir, file)));
  if (!kind) {
    throw new CliError(
      `'${dir}' holds no run to plot (${KINDS.map(([f]) => f).join(', ')}: the --out files of meta-train, demo, eval, train)`,
    );
  }
  const outDir = ensureWritableDir(flags.out ?? dir);
  const charts = await kind[1](dir, outDir, flags.logY);
  out.result(charts.map((c) => `${c.svg}\n${c.png} (${c.width}x${c.height})`).join('\n'), { event: 'done', charts });
}

/** The `lopt plot` command. */
export function plotCommand(): Command {
  return new Command('plot')
    .description(
      'Plot a run as SVG and PNG: a meta-train folder (meta-loss curve, theta trajectories), a demo folder (meta-loss, learning rate), an eval folder or a train folder (loss curves).',
    )
    .argument('<dir>', 'an --out folder of `lopt meta-train`, `demo`, `eval` or `train`')
    .option('--out <dir>', 'where to write the pictures (default: the run folder)')
    .option('--log-y', 'log-scale loss axis', false)
    .action(plotAction);
}
