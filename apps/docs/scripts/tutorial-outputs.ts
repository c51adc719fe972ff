/**
 * Runs the six tutorial examples and records, for each `// #region` of an example file,
 * what the code inside that region printed, so each tutorial page shows a code cell and
 * its output. Plots come from the same run. Writes `<out>/partN.md` (one block per region,
 * between `<!-- #region name -->` markers the pages include) and SVG figures.
 *
 *   node --conditions=@lopt/source --import tsx scripts/tutorial-outputs.ts [outDir] [part ...]
 *
 * A printed line is attributed by the call stack: the innermost region around the line of
 * the example file that called `log`/`console.log` (tsx maps stack lines to the source).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatWithOptions } from 'node:util';
import { setupBackend } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { panelsSvg } from '../../examples/src/svg-plot';

const docsRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const examples = resolve(docsRoot, '../examples/src');
const dataDir = process.env.LOPT_DATA_DIR;
const data = dataDir ? { cacheRoot: dataDir, download: false } : {};

type Log = (...args: unknown[]) => void;
/** One tutorial: its example file and how the page runs it (options stated on the page). */
interface Part {
  file: string;
  run(log: Log, outDir: string): Promise<{ figures?: Record<string, string> }>;
}

const write = (path: string, text: string) => {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
};

export const PARTS: Record<string, Part> = {
  part1: {
    file: 'part1-introduction.ts',
    async run(log, outDir) {
      const { runPart1 } = await import('../../examples/src/part1-introduction');
      await runPart1({ dataDir, log, outDir });
      return {};
    },
  },
  part2: {
    file: 'part2-custom-tasks.ts',
    async run(log) {
      const { runPart2 } = await import('../../examples/src/part2-custom-tasks');
      await runPart2({ data, log });
      return {};
    },
  },
  part3: {
    file: 'part3-truncated-steps.ts',
    async run(log) {
      const { runPart3 } = await import('../../examples/src/part3-truncated-steps');
      const r = await runPart3({ data, log });
      const column = (rows: number[][], k: number) => rows.map((row) => row[k]!);
      return {
        figures: {
          'part3-resets.svg': panelsSvg([
            { title: 'one model, reset every truncation (gaps)', values: r.sequentialLosses },
            {
              title: 'lock step: models 1 and 2',
              values: column(r.lockStepLosses, 0).map((l, i) => (i % 2 ? column(r.lockStepLosses, 1)[i]! : l)),
            },
            { title: 'random offsets: model 1', values: column(r.offsetLosses, 0) },
            { title: 'random offsets: model 2', values: column(r.offsetLosses, 1) },
          ]),
        },
      };
    },
  },
  part4: {
    file: 'part4-gradient-estimators.ts',
    async run(log) {
      const { runPart4 } = await import('../../examples/src/part4-gradient-estimators');
      await runPart4({ log });
      return {};
    },
  },
  part5: {
    file: 'part5-meta-training.ts',
    async run(log) {
      const { runPart5 } = await import('../../examples/src/part5-meta-training');
      const r = await runPart5({ outerTrainSteps: 20, numTasks: 2, maxLength: 60, truncLength: 10, data, log });
      return {
        figures: {
          'part5-meta-loss.svg': panelsSvg([
            { title: 'SingleMachineGradientLearner: meta-loss', values: r.losses },
            { title: 'GradientLearner + workers: meta-loss', values: r.workerLosses },
          ]),
        },
      };
    },
  },
  part6: {
    file: 'part6-custom-lopt.ts',
    async run(log) {
      const { runPart6 } = await import('../../examples/src/part6-custom-lopt');
      const r = await runPart6({ log });
      return {
        figures: {
          'part6-meta-training.svg': panelsSvg([
            { title: 'meta-loss (loss after 10 steps)', values: r.metaLosses, logY: true },
            { title: 'learned step size exp(logLr)', values: r.learningRates, logY: true },
          ]),
        },
      };
    },
  },
};

/** Line ranges of the regions of a source file (1-based, inclusive). */
function regions(source: string): { name: string; from: number; to: number }[] {
  const open: { name: string; from: number }[] = [];
  const out: { name: string; from: number; to: number }[] = [];
  source.split('\n').forEach((line, i) => {
    const m = /^\s*\/\/ #(region|endregion) ([\w-]+)/.exec(line);
    if (!m) return;
    if (m[1] === 'region') open.push({ name: m[2]!, from: i + 1 });
    else {
      const at = open.findIndex((r) => r.name === m[2]);
      if (at < 0) throw new Error(`#endregion ${m[2]} without #region`);
      out.push({ ...open.splice(at, 1)[0]!, to: i + 1 });
    }
  });
  return out;
}

/** Runs one part and returns its regions' output as Markdown. */
export async function partOutputs(name: string, outDir: string): Promise<string> {
  const part = PARTS[name];
  if (!part) throw new Error(`unknown part ${name}; one of ${Object.keys(PARTS).join(', ')}`);
  const path = join(examples, part.file);
  const spans = regions(readFileSync(path, 'utf8'));
  const printed = new Map<string, string[]>();
  const unplaced: string[] = [];
  const record: Log = (...args) => {
    // Paths under the output folder are shown relative to it: the page is no machine's.
    const text = formatWithOptions({ depth: 8, colors: false, breakLength: 100 }, ...args).replaceAll(`${outDir}/`, '');
    const frame = (new Error().stack ?? '').split('\n').find((l) => l.includes(path));
    const line = Number(/:(\d+):\d+\)?$/.exec(frame ?? '')?.[1]);
    const inner = spans
      .filter((r) => line >= r.from && line <= r.to)
      .sort((a, b) => a.to - a.from - (b.to - b.from))[0];
    if (inner) printed.set(inner.name, [...(printed.get(inner.name) ?? []), text]);
    else unplaced.push(text);
  };
  const consoleLog = console.log;
  console.log = record; // tf's Tensor.print() writes to console.log
  let figures: Record<string, string> = {};
  try {
    figures = (await part.run(record, outDir)).figures ?? {};
  } finally {
    console.log = consoleLog;
  }
  if (unplaced.length) throw new Error(`${part.file}: output outside any region:\n${unplaced.join('\n')}`);
  for (const [file, svg] of Object.entries(figures)) write(join(outDir, file), svg);
  const blocks = spans
    .filter((r) => printed.has(r.name))
    .map(
      (r) =>
        `<!-- #region ${r.name} -->\n\`\`\`text\n${printed.get(r.name)!.join('\n')}\n\`\`\`\n<!-- #endregion ${r.name} -->\n`,
    );
  return `<!-- What ${part.file} printed, region by region (scripts/tutorial-outputs.ts). -->\n\n${blocks.join('\n')}`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = resolve(process.argv[2] ?? join(docsRoot, 'site/tutorials/outputs'));
  const names = process.argv.length > 3 ? process.argv.slice(3) : Object.keys(PARTS);
  mkdirSync(outDir, { recursive: true });
  await setupBackend(process.env.LOPT_BACKEND || 'wasm');
  for (const name of names) {
    const t0 = performance.now();
    const md = await partOutputs(name, outDir);
    write(join(outDir, `${name}.md`), md);
    console.log(`${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s, ${tf.memory().numTensors} tensors live`);
  }
}
