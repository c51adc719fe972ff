import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RecipeTrainer } from '@lopt/outer-trainers';
import { fileCheckpointStore, jsonLinesAppender } from '@lopt/outer-trainers/node';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ensureBuilt,
  exited,
  expectOneLineError,
  jsonLines,
  jsonLinesSoFar,
  lopt,
  lopt$,
  tmp,
  waitFor,
} from './helpers';

beforeAll(() => ensureBuilt());

// A recipe small enough for a test: AdafacMLPLOpt (hidden size 4) on 4x4 and 5x5
// Fashion-MNIST MLPs, two estimators whose families are redrawn every 3 outer steps
// (so a resume crosses a redraw), augmentation, gradient clipping, a checkpoint every 2.
const STEPS = 8;
const TINY = {
  format: 'lopt-meta-training-recipe',
  version: 1,
  name: 'tiny-test',
  seed: 3,
  learnedOptimizer: { name: 'AdafacMLPLOpt', options: { hiddenSize: 4, hiddenLayers: 2 } },
  taskDistribution: {
    components: [
      {
        distribution: 'ImageMLPDistribution',
        options: {
          datasets: ['fashion_mnist'],
          imageSize: [4, 6],
          batchSize: [8, 17],
          hiddenSize: [4, 9],
          numLayers: [1],
        },
        augmentation: [{ kind: 'none' }, { kind: 'scaleLoss', range: [0.1, 10] }],
      },
    ],
  },
  estimator: { name: 'TruncatedPES', numTasks: 2, truncLength: 5, std: 0.01 },
  truncationSchedule: { name: 'ConstantTruncationSchedule', length: 10 },
  numEstimators: 2,
  resampleEvery: 3,
  outerOptimizer: { name: 'Adam', learningRate: 0.001, gradClip: 3 },
  outerSteps: STEPS,
  checkpointEvery: 2,
};

function recipeFile(recipe: object = TINY): string {
  const path = join(tmp('lopt-recipe-'), 'recipe.json');
  writeFileSync(path, JSON.stringify(recipe, null, 2));
  return path;
}

const read = (dir: string, f: string) => readFileSync(join(dir, f), 'utf8');
const metrics = (dir: string) => (existsSync(join(dir, 'metrics.jsonl')) ? jsonLines(read(dir, 'metrics.jsonl')) : []);
const outerIteration = (dir: string) =>
  (JSON.parse(read(dir, 'checkpoint.json')) as { outerIteration: number }).outerIteration;

// Step and loss of every metrics line, and the estimators' metrics but their wall times.
function deterministic(dir: string): unknown[] {
  return metrics(dir).map((r) => {
    const m = Object.fromEntries(
      Object.entries(r.metrics as Record<string, unknown>).filter(([k]) => k !== 'time' && !k.endsWith('/time')),
    );
    return { step: r.step, loss: r.loss, metrics: m };
  });
}

describe('meta-train --recipe', () => {
  const recipe = recipeFile();
  const straight = tmp();

  it('runs the recipe into --out: checkpoint, metrics, a theta that train loads, the recipe in run.json', () => {
    const r = lopt('meta-train', '--recipe', recipe, '--out', straight, '--log-every', '1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/meta-training AdafacMLPLOpt with the recipe tiny-test .* until outer step 8/);
    expect(r.stdout).toMatch(/estimator 1: family Augmented_ImageMLPFamily_fashion_mnist_\dx\d_bs\d+_\d/);
    expect(r.stdout).toContain('outer step 7: meta-loss');
    expect(r.stdout).toMatch(/done: 8 outer steps, last meta-loss [\d.]+/);
    expect(outerIteration(straight)).toBe(STEPS);
    const lines = metrics(straight);
    expect(lines.map((l) => l.step)).toEqual([...Array(STEPS).keys()]);
    for (const l of lines) expect(Number.isFinite(l.loss as number)).toBe(true);
    // Theta moved (the norms of its leaves change), and the loop is leak-free from step 1 on:
    // no step ends with more live tensors than step 1 did, and the last ends with as many.
    // (The count may dip at a step — this recipe holds one tensor fewer after step 6, where
    // problems reset and a family is redrawn — but a leak would make it climb.)
    expect(lines[STEPS - 1]!.theta).not.toEqual(lines[0]!.theta);
    const live = lines.map((l) => l.numTensors as number);
    expect(Math.max(...live.slice(1)), String(live)).toBe(live[1]);
    expect(live[STEPS - 1], String(live)).toBe(live[1]);
    const run = JSON.parse(read(straight, 'run.json')) as { recipe: { name: string }; steps: number };
    expect(run.recipe.name).toBe('tiny-test');
    expect(run.steps).toBe(STEPS);
    // The theta is AdafacMLPLOpt with hidden size 4 (not the default 32): train reads the recipe beside it.
    const theta = JSON.parse(read(straight, 'theta.json')) as {
      learnedOptimizer: string;
      leaves: { shape: number[] }[];
    };
    expect(theta.learnedOptimizer).toBe('AdafacMLPLOpt');
    expect(theta.leaves.some((l) => l.shape.includes(4))).toBe(true);
    const t = lopt('train', '--task', 'QuadraticTask', '--theta', join(straight, 'theta.json'), '--steps', '20');
    expect(t.code, t.stderr).toBe(0);
    const m = /final train loss ([\d.e+-]+)/.exec(t.stdout)!;
    expect(Number.isFinite(Number(m[1]))).toBe(true);
  });

  it('a run killed with SIGKILL and resumed ends with the theta, checkpoint and metrics of the uninterrupted one', async () => {
    const dir = tmp();
    const child = lopt$('meta-train', '--recipe', recipe, '--out', dir);
    // Past the first checkpoint (step 2), before the end.
    await waitFor(() => jsonLinesSoFar(join(dir, 'metrics.jsonl')).length >= 3);
    child.kill('SIGKILL');
    expect((await exited(child)).signal, 'the run finished before it could be killed').toBe('SIGKILL');
    const at = outerIteration(dir);
    expect(at).toBeGreaterThanOrEqual(2);
    expect(at).toBeLessThan(STEPS);

    const r = lopt('meta-train', '--recipe', recipe, '--out', dir, '--resume');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`resuming from the checkpoint at outer step ${at}`);
    expect(r.stdout).toContain(`(resumed from ${at})`);
    expect(r.stderr).toMatch(/was locked by process \d+ .*no longer running/);
    expect(read(dir, 'theta.json')).toBe(read(straight, 'theta.json'));
    expect(read(dir, 'checkpoint.json')).toBe(read(straight, 'checkpoint.json'));
    expect(deterministic(dir)).toEqual(deterministic(straight));
  });

  it('resumes a run that RecipeTrainer started directly (fileCheckpointStore, jsonLinesAppender), bit-identically', async () => {
    const dir = tmp();
    const before = tf.memory().numTensors;
    const trainer = await RecipeTrainer.create(JSON.stringify(TINY), {
      data: { cacheRoot: process.env.LOPT_DATA_DIR, download: false },
      store: fileCheckpointStore(join(dir, 'checkpoint.json')),
      onMetricsLine: jsonLinesAppender(join(dir, 'metrics.jsonl')),
    });
    await trainer.run(5); // not a multiple of checkpointEvery: the end of run() checkpoints
    trainer.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(outerIteration(dir)).toBe(5);

    const r = lopt('meta-train', '--recipe', recipe, '--out', dir, '--resume');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('(resumed from 5)');
    expect(read(dir, 'theta.json')).toBe(read(straight, 'theta.json'));
    expect(read(dir, 'checkpoint.json')).toBe(read(straight, 'checkpoint.json'));
    expect(deterministic(dir)).toEqual(deterministic(straight));
  });

  it('--steps stops early with a checkpoint; SIGTERM writes one and exits 130; both resume to the same end', async () => {
    const dir = tmp();
    const r = lopt('meta-train', '--recipe', recipe, '--out', dir, '--steps', '3');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/done: 3 outer steps/);
    expect(outerIteration(dir)).toBe(3);
    expect(metrics(dir)).toHaveLength(3);

    const child = lopt$('meta-train', '--recipe', recipe, '--out', dir, '--resume');
    await waitFor(() => jsonLinesSoFar(join(dir, 'metrics.jsonl')).length >= 4);
    child.kill('SIGTERM');
    const { code } = await exited(child);
    expect(code, child.err()).toBe(130);
    expect(child.out()).toMatch(/interrupted \(SIGTERM\) at outer step (\d+): wrote checkpoint\.json/);
    const at = outerIteration(dir);
    expect(metrics(dir)).toHaveLength(at);
    expect(existsSync(join(dir, 'theta.json'))).toBe(true);

    const done = lopt('meta-train', '--recipe', recipe, '--out', dir, '--resume');
    expect(done.code, done.stderr).toBe(0);
    expect(read(dir, 'theta.json')).toBe(read(straight, 'theta.json'));
    expect(read(dir, 'checkpoint.json')).toBe(read(straight, 'checkpoint.json'));
  });

  it('refuses what the recipe fixes, bad recipes, past-the-end --steps and a checkpoint of another recipe', () => {
    const dir = tmp();
    for (const [flags, msg] of [
      [['--lopt', 'MLPLOpt'], /--lopt cannot be combined with --recipe: the recipe sets it \(learnedOptimizer\)/],
      [['--task', 'QuadraticTask'], /--task cannot be combined with --recipe/],
      [['--outer-steps', '4'], /--outer-steps cannot be combined with --recipe.*stop earlier with --steps/],
      [['--outer-lr', '0.1'], /--outer-lr cannot be combined with --recipe.*outerOptimizer\.learningRate/],
      [['--seed', '5'], /--seed cannot be combined with --recipe/],
      [['--workers', '2'], /distributed options .* do not apply/],
      [['--steps', '9'], /--steps 9 is past the recipe's outerSteps \(8\)/],
    ] as const) {
      const line = expectOneLineError(lopt('meta-train', '--recipe', recipe, '--out', dir, ...flags));
      expect(line).toMatch(msg);
    }
    expect(expectOneLineError(lopt('meta-train', '--recipe', join(dir, 'none.json'), '--out', dir))).toMatch(
      /recipe file '.*none\.json' does not exist/,
    );
    const bad = recipeFile({ ...TINY, estimator: { ...TINY.estimator, truncLenght: 5 } });
    expect(expectOneLineError(lopt('meta-train', '--recipe', bad, '--out', dir))).toMatch(
      /recipe file '.*': recipe\.estimator: unknown key 'truncLenght' \(did you mean 'truncLength'\?\)/,
    );
    // A checkpoint of another recipe (another seed) is refused, not silently continued.
    const other = recipeFile({ ...TINY, seed: 4 });
    const line = expectOneLineError(lopt('meta-train', '--recipe', other, '--out', straight, '--resume'));
    expect(line).toMatch(/cannot resume from '.*checkpoint\.json': it was written by another configuration/);
    expect(line).toContain("'tiny-test' or an edited version of it");
    // And without --resume the folder of a finished run is refused.
    expect(expectOneLineError(lopt('meta-train', '--recipe', recipe, '--out', straight))).toMatch(
      /already holds results of another run/,
    );
  });
});

describe('meta-train --distribution', () => {
  it('meta-trains on families drawn from a named distribution, resumably', () => {
    const dir = tmp();
    const args = [
      'meta-train',
      '--distribution',
      'ImageMLPDistribution',
      '--distribution-options',
      '{"datasets":["fashion_mnist"],"imageSize":[4,6],"batchSize":[8,17],"hiddenSize":[4,9],"numLayers":[1]}',
      '--lopt',
      'AdafacMLPLOpt',
      '--tasks',
      '2',
      '--inner-steps',
      '10',
      '--trunc-length',
      '5',
      '--resample-every',
      '2',
      '--checkpoint-every',
      '2',
      '--out',
      dir,
    ];
    const a = lopt(...args, '--outer-steps', '2');
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/estimator 0: family ImageMLPFamily_fashion_mnist_\dx\d_bs\d+_\d/);
    const b = lopt(...args, '--outer-steps', '4', '--resume');
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toContain('(resumed from 2)');
    expect(metrics(dir).map((l) => l.step)).toEqual([0, 1, 2, 3]);
    const run = JSON.parse(read(dir, 'run.json')) as {
      recipe: { estimator: { name: string }; outerOptimizer: { learningRate: number } };
    };
    expect(run.recipe.estimator.name).toBe('TruncatedPES');
    expect(run.recipe.outerOptimizer.learningRate).toBe(0.001);

    expect(expectOneLineError(lopt(...args, '--outer-steps', '2', '--estimator', 'fullgrad', '--force'))).toMatch(
      /--distribution runs the truncated ES estimators \(pes or tes\), not 'fullgrad'/,
    );
    expect(
      expectOneLineError(
        lopt(
          'meta-train',
          '--distribution',
          'ImageMLPDistributon',
          '--lopt',
          'AdafacMLPLOpt',
          '--outer-steps',
          '2',
          '--out',
          dir,
        ),
      ),
    ).toMatch(/unknown task distribution 'ImageMLPDistributon'\. Did you mean 'ImageMLPDistribution'/);
    expect(
      expectOneLineError(
        lopt(
          'meta-train',
          '--distribution',
          'ImageMLPDistribution',
          '--lopt',
          'LearnableAdam',
          '--outer-steps',
          '2',
          '--out',
          dir,
        ),
      ),
    ).toMatch(/--distribution meta-trains AdafacMLPLOpt or MLPLOpt/);
    expect(
      expectOneLineError(
        lopt(
          'meta-train',
          '--distribution',
          'ImageMLPDistribution',
          '--distribution-options',
          '{"imageSize":[4,',
          '--lopt',
          'AdafacMLPLOpt',
          '--outer-steps',
          '2',
          '--out',
          dir,
        ),
      ),
    ).toMatch(/--distribution-options is not valid JSON/);
    expect(
      expectOneLineError(
        lopt(
          'meta-train',
          '--distribution',
          'ImageMLPDistribution',
          '--distribution-options',
          '{"imageSzie":[4,6]}',
          '--lopt',
          'AdafacMLPLOpt',
          '--outer-steps',
          '2',
          '--out',
          dir,
        ),
      ),
    ).toMatch(/--distribution ImageMLPDistribution: .*imageSzie/);
  });
});
