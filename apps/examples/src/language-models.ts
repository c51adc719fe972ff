// Language models on real text: a character (byte) GRU language model trained with Adam on
// the Jargon File, and a look at the language-model task families. Run:
// `npx tsx --conditions=@lopt/source src/language-models.ts [out.svg]`.

import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { decodeBytes, type TextBatch } from '@lopt/datasets';
import { Adam } from '@lopt/optimizers';
import { type PRNGKey, random, setupBackend, tidy, treeDispose, valueAndGrad } from '@lopt/pytree';
import { getTask, ParametricLMRNN, ParametricLMTransformer, type Task } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import { panelsSvg } from './svg-plot.js';

/** Options of `runLanguageModels` (tests shorten them). */
export interface LanguageModelOptions {
  /** Adam steps (default 300). */
  steps?: number;
  /** Windows per batch (default 32, the task's own). */
  batchSize?: number;
  /** Measure the test loss every this many steps (default 25). */
  logEvery?: number;
  /** Where the corpus is looked for (`cacheRoot` / `dataDir`); default: lopt's usual places. */
  data?: { cacheRoot?: string | null; dataDir?: string };
  /** Where output goes (default `console.log`). */
  log?: (...args: unknown[]) => void;
}

/** What `runLanguageModels` observed, for checks and the docs' figure. */
export interface LanguageModelResult {
  /** Training loss (nats per byte) of every step. */
  train: number[];
  /** Test loss at the logged steps, as `[step, loss]`. */
  test: [number, number][];
  /** The first window of the first batch, as text. */
  firstWindow: string;
  /** Names of tasks drawn from the two language-model families. */
  sampledTasks: string[];
  /** The loss curves as an SVG document. */
  svg: string;
  /** Tensors left after everything was disposed (0 when nothing leaks). */
  leakedTensors: number;
}

/** Trains `RNNLM_JargonByte_Patch32_GRU64_Embed32` with Adam and samples the LM families. */
export async function runLanguageModels(opts: LanguageModelOptions = {}): Promise<LanguageModelResult> {
  const { steps = 300, logEvery = 25, log = console.log } = opts;
  const start = tf.memory().numTensors;

  // #region load
  // The corpus loads once (found on disk and checked); batches are then synchronous.
  const task = (await getTask('RNNLM_JargonByte_Patch32_GRU64_Embed32', {
    ...opts.data,
    batchSize: opts.batchSize,
    key: random.PRNGKey(0),
  })) as Task<unknown, TextBatch, undefined>;
  const peek = task.datasets!.train.next().value as unknown as TextBatch;
  const firstWindow = decodeBytes(peek.obs.arraySync()[0]!);
  log(`obs ${peek.obs.shape} ${peek.obs.dtype}; first window: ${JSON.stringify(firstWindow)}`);
  tf.dispose(peek);
  // #endregion load

  // #region train
  const opt = new Adam(1e-2);
  let state = opt.init(task.init(random.PRNGKey(1)), { numSteps: steps });
  const lossAndGrad = valueAndGrad((p: unknown, k: PRNGKey, b: TextBatch) => task.loss(p, k, b));
  const testLoss = () =>
    tf.tidy(
      () =>
        task
          .loss(opt.getParams(state), random.PRNGKey(0), task.datasets!.test.next().value as unknown as TextBatch)
          .dataSync()[0]!,
    );
  const train: number[] = [];
  const test: [number, number][] = [];
  for (let i = 0; i < steps; i++) {
    const out = tidy(() => {
      const batch = task.datasets!.train.next().value as unknown as TextBatch;
      const [l, g] = lossAndGrad(opt.getParams(state), random.PRNGKey(i), batch);
      return { next: opt.update(state, g, { loss: l as tf.Scalar }), l };
    });
    treeDispose(state);
    state = out.next;
    train.push(out.l.dataSync()[0]!);
    out.l.dispose();
    if (i % logEvery === 0 || i === steps - 1) {
      test.push([i, testLoss()]);
      log(`step ${i}: train ${train[i]!.toFixed(3)}, test ${test[test.length - 1]![1].toFixed(3)} nats per byte`);
    }
  }
  treeDispose(state);
  // #endregion train

  // #region families
  // Both families share one corpus loaded at the largest shape; each task crops batches.
  const rnns = await ParametricLMRNN.create({ ...opts.data, maxBatchSize: 32, maxSequenceLength: 64 });
  const transformers = await ParametricLMTransformer.create({ ...opts.data, maxBatchSize: 32, maxSequenceLength: 64 });
  const sampledTasks = [0, 1, 2].flatMap((s) => [
    rnns.taskFn(rnns.sample(random.PRNGKey(s))).name,
    transformers.taskFn(transformers.sample(random.PRNGKey(s))).name,
  ]);
  for (const name of sampledTasks) log(name);
  // #endregion families

  const svg = panelsSvg([
    { title: 'training loss (nats per byte)', values: train, xLabel: 'Adam step' },
    { title: `test loss every ${logEvery} steps`, values: test.map(([, l]) => l), xLabel: `step / ${logEvery}` },
  ]);
  return { train, test, firstWindow, sampledTasks, svg, leakedTensors: tf.memory().numTensors - start };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await setupBackend();
  const r = await runLanguageModels();
  if (process.argv[2]) writeFileSync(process.argv[2], r.svg);
}
