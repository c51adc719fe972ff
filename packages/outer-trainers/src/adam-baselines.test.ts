import { Adam, SGD } from '@lopt/optimizers';
import { random } from '@lopt/pytree';
import { imageMlp, QuadraticTask, type Task } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import { adamLearningRateGrid, compareWithAdam } from './adam-baselines.js';
import { comparisonReport, formatComparisonTable, plotSeries } from './eval-report.js';
import { trainingCurves } from './eval-training.js';
import { evaluateOptimizer } from './evaluate-optimizer.js';
import { normalizedScore } from './normalized-score.js';

describe('normalizedScore', () => {
  test('1 at the reference, 0 at the initial loss, -Infinity when diverged; a reference without progress is an error', () => {
    expect(normalizedScore(1, 3, 1)).toBe(1);
    expect(normalizedScore(3, 3, 1)).toBe(0);
    expect(normalizedScore(0.5, 3, 1)).toBe(1.25);
    expect(normalizedScore(4, 3, 1)).toBe(-0.5);
    expect(normalizedScore(Number.NaN, 3, 1)).toBe(Number.NEGATIVE_INFINITY);
    expect(() => normalizedScore(1, 3, 3)).toThrow(/made no progress/);
  });
});

describe('evaluation against Adam baselines', () => {
  test('evaluateOptimizer: one run per seed with the key PRNGKey(seed), stats across seeds', async () => {
    const task = new QuadraticTask();
    const r = await evaluateOptimizer(task, new Adam(0.1), { numSteps: 20, seeds: [4, 5], evalEvery: 5 });
    expect(r.seeds).toEqual([4, 5]);
    const alone = await trainingCurves(task, new Adam(0.1), { numSteps: 20, key: random.PRNGKey(5), evalEvery: 5 });
    expect(r.runs[1]!.trainLoss).toEqual(alone.trainLoss);
    const finals = r.runs.map((x) => x.eval.train!.loss.at(-1)!);
    expect(r.finalLoss.train!.perSeed).toEqual(finals);
    expect(r.finalLoss.train!.mean).toBeCloseTo((finals[0]! + finals[1]!) / 2, 12);
    expect(r.initialLoss.train!.perSeed).toEqual(r.runs.map((x) => x.eval.train!.loss[0]!));
  });

  test('the grid picks the lowest mean final loss; scores are computed against it', async () => {
    const task = new QuadraticTask();
    const grid = await adamLearningRateGrid(task, {
      numSteps: 30,
      seeds: [0, 1],
      learningRates: [1e-3, 1e-2, 1e-1],
      evalEvery: 10,
    });
    const means = grid.results.map((r) => r.finalLoss.train!.mean);
    expect(grid.bestIndex).toBe(means.indexOf(Math.min(...means)));
    expect(grid.results.map((r) => r.name)).toEqual(['Adam(0.001)', 'Adam(0.01)', 'Adam(0.1)']);

    const cmp = await compareWithAdam(task, [{ name: 'SGD(0.05)', opt: new SGD(0.05) }], {
      numSteps: 30,
      seeds: [0, 1],
      learningRates: [1e-2, 1e-1],
      evalEvery: 10,
    });
    // 1e-3 joined the grid for its own row.
    expect(cmp.grid.learningRates).toEqual([1e-3, 1e-2, 1e-1]);
    expect(cmp.rows.map((r) => r.optimizer)).toEqual([
      'SGD(0.05)',
      'Adam(0.001)',
      `best of Adam grid: ${cmp.grid.results[cmp.grid.bestIndex]!.name}`,
    ]);
    const best = cmp.grid.results[cmp.grid.bestIndex]!;
    const sgd = cmp.results[0]!;
    expect(cmp.rows[0]!.score.train).toBeCloseTo(
      (sgd.initialLoss.train!.mean - sgd.finalLoss.train!.mean) /
        (best.initialLoss.train!.mean - best.finalLoss.train!.mean),
      10,
    );
    expect(cmp.rows[2]!.score.train).toBe(1);
    // Every optimizer starts from the same parameters, so the same initial loss.
    expect(new Set(cmp.results.map((r) => r.initialLoss.train!.mean)).size).toBe(1);

    const text = formatComparisonTable(cmp.rows, 'text');
    expect(text.split('\n')).toHaveLength(5);
    expect(text).toMatch(/^optimizer\s+final train loss\s+train score/);
    const md = formatComparisonTable(cmp.rows);
    expect(md.split('\n')[1]).toBe('| --- | ---: | ---: |');
    expect(md).toContain(`| best of Adam grid: ${best.name} |`);
    expect(md.split('\n')[4]).toMatch(/ \| 1\.000 \|$/);
  });

  test('on Fashion-MNIST: test curves, plot data as means over seeds, and no leaked tensors', async () => {
    const task: Task = await imageMlp.ImageMLP_FashionMnist8_Relu32({
      cacheRoot: process.env.LOPT_DATA_DIR!,
      download: false,
      batchSize: 32,
    });
    const start = tf.memory().numTensors;
    const cmp = await compareWithAdam(task, [{ name: 'SGD(0.1)', opt: new SGD(0.1) }], {
      numSteps: 20,
      seeds: [0, 1],
      learningRates: [1e-2],
      evalEvery: 10,
      evalBatches: 2,
      lastEvalBatches: 2,
    });
    expect(tf.memory().numTensors).toBe(start);
    expect(cmp.rows.map((r) => Object.keys(r.score))).toEqual([
      ['train', 'test'],
      ['train', 'test'],
      ['train', 'test'],
    ]);
    const report = comparisonReport(cmp);
    expect(report.bestAdamLearningRate).toBe(cmp.grid.learningRates[cmp.grid.bestIndex]);
    expect(report.train.map((s) => s.name)).toEqual(['SGD(0.1)', 'Adam(0.001)', 'Adam(0.01)']);
    const sgd = cmp.results[0]!;
    expect(report.train[0]!.points[7]).toEqual([7, (sgd.runs[0]!.trainLoss[7]! + sgd.runs[1]!.trainLoss[7]!) / 2]);
    expect(report.test[0]!.points.map((p) => p[0])).toEqual([0, 10, 20]);
    const smooth = plotSeries([sgd], { curve: 'train', ema: 0.5 })[0]!.points;
    const m = (i: number) => (sgd.runs[0]!.trainLoss[i]! + sgd.runs[1]!.trainLoss[i]!) / 2;
    expect(smooth[1]![1]).toBeCloseTo(0.5 * m(0) + 0.5 * m(1), 10);
    // Adam at 1e-2 learns within 20 steps on real data.
    expect(cmp.grid.results[1]!.finalLoss.test!.mean).toBeLessThan(cmp.grid.results[1]!.initialLoss.test!.mean - 0.2);
  });
});
