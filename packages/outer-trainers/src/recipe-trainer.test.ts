import { readFileSync } from 'node:fs';
import { treeLeaves } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import type { CheckpointStore } from './meta-train.js';
import { parseMetricsLines } from './metrics.js';
import type { Recipe } from './recipe.js';
import { RecipeTrainer } from './recipe-trainer.js';
import { TINY_RECIPE as TINY } from './test-helpers.js';

const DATA = { cacheRoot: process.env.LOPT_DATA_DIR!, download: false };

const memoryStore = (): CheckpointStore & { text?: string } => {
  const s: CheckpointStore & { text?: string } = {
    load: () => s.text,
    save: (t) => {
      s.text = t;
    },
  };
  return s;
};

const flat = (theta: unknown) => treeLeaves(theta as never).flatMap((t) => Array.from((t as tf.Tensor).dataSync()));

describe('RecipeTrainer', () => {
  test('runs a recipe with resampled families; a resumed run reaches the bit-identical theta', async () => {
    const start = tf.memory().numTensors;
    const families: string[] = [];
    const lines: string[] = [];
    const full = await RecipeTrainer.create(TINY, {
      data: DATA,
      onFamily: (j, name) => families.push(`${j}:${name}`),
      onMetricsLine: (l) => lines.push(l),
    });
    const theta0 = flat(full.theta());
    const losses = await full.run();
    expect(losses).toHaveLength(4);
    expect(losses.every((l) => Number.isFinite(l) && l > 0)).toBe(true);
    // Two first families, then estimator 0 redraws at step 2 and estimator 1 (offset by half a period) at steps 1 and 3.
    expect(families).toHaveLength(5);
    expect(families.filter((f) => f.startsWith('1:'))).toHaveLength(3);
    expect(parseMetricsLines(lines.join('')).map((r) => r.step)).toEqual([0, 1, 2, 3]);
    const thetaFull = flat(full.theta());
    expect(thetaFull).not.toEqual(theta0);
    full.dispose();
    expect(tf.memory().numTensors).toBe(start);

    const store = memoryStore();
    const first = await RecipeTrainer.create(TINY, { data: DATA, store });
    // Stopped from outside after two steps (as on Ctrl-C): a checkpoint of step 2 is written.
    let calls = 0;
    expect(await first.run(undefined, { shouldStop: () => ++calls > 2 })).toHaveLength(2);
    expect(first.step).toBe(2);
    first.dispose();
    expect(JSON.parse(store.text!).outerIteration).toBe(2);
    const resumed = await RecipeTrainer.create(TINY, { data: DATA, store });
    expect(resumed.resumedFrom).toBe(2);
    await resumed.run();
    expect(flat(resumed.theta())).toEqual(thetaFull);
    resumed.dispose();
    expect(tf.memory().numTensors).toBe(start);

    // Another recipe cannot resume this checkpoint.
    await expect(RecipeTrainer.create({ ...TINY, seed: 4 }, { data: DATA, store })).rejects.toThrow(
      /fingerprint|configuration/i,
    );
  });

  test("the repository's adafac-small-fc-v1 recipe builds its families and runs an outer step", async () => {
    const recipe = JSON.parse(
      readFileSync(new URL('../../../recipes/adafac-small-fc-v1.json', import.meta.url), 'utf8'),
    ) as Recipe;
    // Its distribution, learned optimizer and outer optimizer as they are; a shorter truncation keeps the test short.
    recipe.estimator = { ...recipe.estimator, numTasks: 2, truncLength: 5 };
    const names: string[] = [];
    const trainer = await RecipeTrainer.create(recipe, { data: DATA, onFamily: (_j, n) => names.push(n) });
    expect(trainer.lopt.name).toMatch(/AdafacMLPLOpt/);
    expect(names).toHaveLength(2);
    const [loss] = await trainer.run(1);
    expect(Number.isFinite(loss)).toBe(true);
    trainer.dispose();
  });
});
