/**
 * The generated parts of the page on lopt's own learned optimizer (`site/lopt-learned-optimizer.md`):
 *
 * - `site/outputs/lopt-v1/meta-training.svg`: the meta-training curves, drawn from the page's
 *   copy of the run's per-step metrics (`site/outputs/lopt-v1/metrics.jsonl`, one JSON line
 *   per outer step, as the recipe run writes them): the meta-loss of every outer step with
 *   its moving average, and the norm of the meta-gradient;
 * - `site/outputs/lopt-v1/theta.md`: what the shipped theta is (the outer step it was taken
 *   at, the meta-loss there, its SHA-256), from `@lopt/learned`'s provenance file.
 *
 *   node --import tsx scripts/lopt-v1-page.ts [metrics.jsonl]
 *
 * With a metrics file, it is first copied over the page's copy (to update the page from a
 * later run); without, the page's copy is used.
 */
import { copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seriesSvg } from '../../examples/src/svg-plot';

const docsRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Where the page's copy of the metrics and its figure live. */
export const PAGE_DATA = join(docsRoot, 'site', 'outputs', 'lopt-v1');
/** The shipped theta's provenance, written by `packages/learned/scripts/bundle-lopt-theta.mjs`. */
export const PROVENANCE = join(
  docsRoot,
  '..',
  '..',
  'packages',
  'learned',
  'pretrained',
  'adafac-small-fc-v1.provenance.json',
);

/** The fields of the provenance the page states. */
interface Provenance {
  outerStep: number | null;
  finalMetaLoss: number | null;
  meanMetaLossLast25: number | null;
  recipe: { outerSteps: number; sha256: string };
  thetaSha256: string;
  date: string;
}

/** The page's statement of where the shipped theta comes from. */
export function thetaStatement(p: Provenance): string {
  const step = p.outerStep ?? 'an unrecorded step';
  const done = p.outerStep !== null && p.outerStep >= p.recipe.outerSteps;
  const loss =
    p.meanMetaLossLast25 === null
      ? ''
      : ` The mean meta-loss of its last 25 outer steps was ${p.meanMetaLossLast25.toFixed(3)}.`;
  return [
    `The theta shipped in this version of \`@lopt/learned\` was taken at **outer step ${step} of the recipe's ${p.recipe.outerSteps}**` +
      (done
        ? ', the end of the run.'
        : ': meta-training was still running, so this is an early, partly trained theta, not the result of the full recipe.') +
      loss,
    `It was bundled on ${p.date.slice(0, 10)}; SHA-256 of its values \`${p.thetaSha256}\`, of the recipe file \`${p.recipe.sha256}\`.`,
    '',
  ].join('\n\n');
}

/** One outer step's record, as RecipeTrainer writes it. */
interface StepRecord {
  step: number;
  loss: number;
  metrics: Record<string, number>;
}

/** Parses metrics.jsonl (blank lines skipped; a line that is not JSON is an error naming its number). */
export function parseMetrics(text: string): StepRecord[] {
  const out: StepRecord[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let r: StepRecord;
    try {
      r = JSON.parse(line) as StepRecord;
    } catch (e) {
      throw new Error(`metrics line ${i + 1} is not JSON (${(e as Error).message})`);
    }
    if (typeof r.step !== 'number' || typeof r.loss !== 'number')
      throw new Error(`metrics line ${i + 1} has no numeric step and loss`);
    out.push(r);
  });
  // A resumed run may repeat steps: the last record of a step wins.
  const byStep = new Map(out.map((r) => [r.step, r]));
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/** Trailing moving average over `window` points. */
export function movingAverage(xs: readonly number[], window: number): number[] {
  let sum = 0;
  return xs.map((x, i) => {
    sum += x;
    if (i >= window) sum -= xs[i - window]!;
    return sum / Math.min(i + 1, window);
  });
}

/**
 * The figure: meta-loss (each step and a 25-step moving average) and the meta-gradient
 * norm; `shippedStep` draws a vertical line at the outer step the shipped theta comes from.
 */
export function metaTrainingSvg(records: readonly StepRecord[], shippedStep?: number | null): string {
  if (records.length === 0) throw new Error('no outer steps in the metrics');
  const steps = records.map((r) => r.step);
  const loss = records.map((r) => r.loss);
  const avg = movingAverage(loss, 25);
  const grad = records.map((r) => r.metrics.thetaGradNorm ?? Number.NaN);
  return seriesSvg([
    {
      chart: { title: 'meta-loss per outer step', xLabel: 'outer step' },
      series: [
        { name: 'meta-loss', points: steps.map((s, i) => [s, loss[i]!] as const) },
        { name: 'moving average (25 steps)', points: steps.map((s, i) => [s, avg[i]!] as const) },
        ...(shippedStep === undefined || shippedStep === null
          ? []
          : [
              {
                name: `shipped theta (step ${shippedStep})`,
                points: [
                  [shippedStep, Math.min(...loss)],
                  [shippedStep, Math.max(...loss)],
                ] as const,
              },
            ]),
      ],
    },
    {
      chart: { title: 'meta-gradient norm (before clipping)', xLabel: 'outer step', logY: true },
      series: [{ name: '|meta-gradient|', points: steps.map((s, i) => [s, grad[i]!] as const) }],
    },
  ]);
}

const write = (path: string, text: string) => {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
};

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const metrics = join(PAGE_DATA, 'metrics.jsonl');
  if (process.argv[2]) copyFileSync(process.argv[2], metrics);
  const records = parseMetrics(readFileSync(metrics, 'utf8'));
  const provenance = JSON.parse(readFileSync(PROVENANCE, 'utf8')) as Provenance;
  write(join(PAGE_DATA, 'meta-training.svg'), metaTrainingSvg(records, provenance.outerStep));
  write(join(PAGE_DATA, 'theta.md'), thetaStatement(provenance));
  console.log(`wrote ${PAGE_DATA}: outer steps ${records[0]!.step} to ${records[records.length - 1]!.step}`);
}
