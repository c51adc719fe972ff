import { join } from 'node:path';
import { Command } from 'commander';
import { writeLineChart } from '../charts.js';
import { start } from '../context.js';
import { writeFileAtomic } from '../files.js';
import { INTERRUPTED_EXIT_CODE, Interrupt } from '../interrupt.js';
import { unknownName } from '../names.js';
import type { Progress } from '../output.js';
import { nonNegativeInt, positiveInt, positiveNumber } from '../parse.js';
import { runPart1 } from '../part1.js';
import { claimOutputFolder } from '../run-folder.js';
import { loadTask } from '../task-registry.js';

/** Files `demo part1` writes into its folder. */
export const DEMO_FILES = [
  'part1.jsonl',
  'meta-loss.svg',
  'meta-loss.png',
  'learning-rate.svg',
  'learning-rate.png',
] as const;

/** The walkthroughs `lopt demo` runs. */
export const DEMOS = ['part1'] as const;

interface DemoFlags {
  metaIterations: number;
  sgdSteps: number;
  unroll: number;
  outerLr: number;
  out: string;
  force: boolean;
}

async function demoAction(part: string, flags: DemoFlags, cmd: Command): Promise<void> {
  if (!(DEMOS as readonly string[]).includes(part)) throw unknownName('demo', part, DEMOS, 'lopt demo --help');
  const t0 = Date.now();
  const { g, out, backend } = await start(cmd);
  const { task } = await loadTask('ImageMLP_FashionMnist8_Relu32', g);
  const folder = claimOutputFolder({
    dir: flags.out,
    isDefault: cmd.getOptionValueSource('out') === 'default',
    outputs: DEMO_FILES,
    force: flags.force,
    command: 'demo part1',
    warn: (m) => out.warn(m),
  });
  const outDir = folder.abs;
  out.log(`lopt demo part1: the Part 1 walkthrough of learned_optimization on ${backend}`);
  const bars: Partial<Record<'sgd' | 'meta', Progress>> = {};
  const interrupt = new Interrupt(out);
  const res = await runPart1({
    task,
    shouldStop: () => interrupt.requested,
    seed: g.seed,
    sgdSteps: flags.sgdSteps,
    metaIterations: flags.metaIterations,
    unroll: flags.unroll,
    outerLr: flags.outerLr,
    log: (l) => out.log(l),
    progress: (phase, done, total, info) => {
      bars[phase] ??= out.progress(
        total,
        phase === 'sgd' ? 'SGD        ' : 'meta-train ',
        phase === 'sgd' ? 'step' : 'it',
      );
      bars[phase]!.update(done, info);
      if (done === total) bars[phase]!.stop();
    },
  });
  for (const b of Object.values(bars)) b?.stop();
  interrupt.dispose();
  const metaLoss = await writeLineChart(join(outDir, 'meta-loss'), {
    title: 'LearnableAdam on ImageMLP_FashionMnist8_Relu32: meta-loss',
    xTitle: 'meta-iteration',
    yTitle: 'meta-loss',
    series: [{ name: 'meta-loss', points: res.metaLosses.map((l, i) => [i, l] as const) }],
  });
  const lrChart = await writeLineChart(join(outDir, 'learning-rate'), {
    title: 'LearnableAdam: learned learning rate',
    xTitle: 'meta-iteration',
    yTitle: 'learning rate (log scale)',
    logY: true,
    series: [{ name: 'learning rate', points: res.learningRates.map((l, i) => [i, l] as const) }],
  });
  writeFileAtomic(
    join(outDir, 'part1.jsonl'),
    res.metaLosses
      .map((l, i) => `${JSON.stringify({ step: i, metaLoss: l, learningRate: res.learningRates[i] })}\n`)
      .join(''),
  );
  const n = res.metaLosses.length;
  const mean = (xs: number[]) => (xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
  const tail = res.metaLosses.slice(Math.max(0, n - 10));
  const finalMetaLoss = mean(tail);
  const head = res.metaLosses.slice(0, 10);
  const firstMetaLoss = mean(head);
  const initialLr = 1e-3;
  const lr = n > 0 ? res.learningRates[n - 1]! : initialLr;
  const wall = (Date.now() - t0) / 1000;
  const summary = {
    event: res.stopped ? 'interrupted' : 'done',
    demo: 'part1',
    backend,
    metaIterations: n,
    initialMetaLoss: firstMetaLoss,
    finalMetaLoss,
    initialLearningRate: initialLr,
    learnedLearningRate: lr,
    metaTrainSeconds: res.metaSeconds,
    wallSeconds: wall,
    charts: { metaLoss, learningRate: lrChart },
  };
  out.result(
    [
      '',
      res.stopped
        ? `Summary (interrupted by ${interrupt.received} after ${n} of ${flags.metaIterations} meta-iterations)`
        : 'Summary',
      `  final meta-loss        ${finalMetaLoss.toFixed(4)} (mean of the last ${tail.length}; first ${head.length}: ${firstMetaLoss.toFixed(4)})`,
      `  learned learning rate  ${lr.toPrecision(4)} (from ${initialLr}, x${(lr / initialLr).toFixed(1)})`,
      `  wall time              ${wall.toFixed(1)} s (meta-training ${res.metaSeconds.toFixed(1)} s for ${n} meta-iterations, ${backend})`,
      `  plots                  ${metaLoss.svg}, ${metaLoss.png}`,
      `                         ${lrChart.svg}, ${lrChart.png}`,
      `  data                   ${join(folder.shown, 'part1.jsonl')}`,
    ].join('\n'),
    summary,
  );
  if (res.stopped) process.exitCode = INTERRUPTED_EXIT_CODE;
}

/** The `lopt demo` command. */
export function demoCommand(): Command {
  return new Command('demo')
    .description(
      "Run a walkthrough of learned_optimization. part1: an MLP on 8x8 Fashion-MNIST, SGD on it, the meta-gradient of LearnableAdam's theta through an unrolled inner loop, and meta-training of theta with Adam; the meta-loss and learned learning-rate curves are written as SVG and PNG.",
    )
    .argument('<part>', `the walkthrough: ${DEMOS.join(', ')}`)
    .option('--meta-iterations <n>', 'meta-training iterations', positiveInt, 2000)
    .option('--sgd-steps <n>', 'steps of the SGD training shown first (0 skips it)', nonNegativeInt, 1000)
    .option('--unroll <n>', 'inner steps unrolled per meta-loss', positiveInt, 4)
    .option('--outer-lr <x>', 'learning rate of the Adam that trains theta', positiveNumber, 1e-2)
    .option(
      '--out <dir>',
      'folder for the plots (meta-loss, learning-rate) and part1.jsonl (default: .lopt-out/demo-part1, or the next free .lopt-out/demo-part1-N)',
      '.lopt-out/demo-part1',
    )
    .option('--force', "replace an earlier demo's files in --out", false)
    .addHelpText(
      'after',
      `
Fashion-MNIST is read from --data-dir (or LOPT_DATA_DIR), else downloaded once into the cache.
Ctrl-C (SIGINT) or SIGTERM finishes the current step, writes the plots and part1.jsonl of what
ran, and exits with code 130.

Example (a quick run):
  lopt demo part1 --meta-iterations 100 --sgd-steps 0`,
    )
    .action(demoAction);
}
