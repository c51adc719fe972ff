import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { runPart1 } from './part1-introduction.js';

const dataDir = process.env.LOPT_DATA_DIR!;
// The first value under `key` anywhere in a nested object/array.
function findKey(tree: unknown, key: string): unknown {
  if (tree === null || typeof tree !== 'object') return undefined;
  if (!Array.isArray(tree) && key in tree) return (tree as Record<string, unknown>)[key];
  for (const v of Object.values(tree)) {
    const found = findKey(v, key);
    if (found !== undefined) return found;
  }
  return undefined;
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

it('runs the Part 1 walkthrough on real Fashion-MNIST and every expectation holds (shortened)', async () => {
  const outDir = await mkdtemp(join(tmpdir(), 'lopt-part1-'));
  const start = tf.memory().numTensors;
  const r = await runPart1({ metaIterations: 300, sgdSteps: 300, dataDir, log: () => {}, outDir });
  // The walkthrough frees every tensor it makes, its demonstrations as well as its loops.
  expect(tf.memory().numTensors).toBe(start);

  expect(r.paramShapes).toEqual({
    'mlp/~/linear_0': { w: [64, 32], b: [32] },
    'mlp/~/linear_1': { w: [32, 10], b: [10] },
  });
  expect(r.batchShapes).toEqual({ image: [[128, 8, 8, 1], 'float32'], label: [[128], 'int32'] });
  expect(Math.abs(r.initialLoss - Math.log(10))).toBeLessThan(0.25);
  expect(r.gradShapes).toEqual(r.paramShapes);

  // SGD (the full 1000-step bound, test loss < 0.8, is @lopt/tasks' test): 300 steps.
  expect(r.sgdTestLosses[0]).toBeGreaterThan(2);
  expect(r.sgdTestLosses.at(-1)).toBeLessThan(1.2);
  expect(r.sgdLeakedTensors).toBe(0);

  // SGD: params and iteration 0; Adam: first and second moments as well.
  expect(r.sgdState).toMatchObject({ params: { a: [0, 0] }, iteration: 0 });
  expect(r.adamState).toMatchObject({ params: { a: [0, 0] }, iteration: 0 });
  expect(findKey(r.adamState, 'mu')).toEqual({ a: [0, 0] });
  expect(findKey(r.adamState, 'nu')).toEqual({ a: [0, 0] });
  expect(findKey(r.sgdState, 'mu')).toBeUndefined();
  expect(r.adamStep[0]).toBeCloseTo(-1e-4, 8);
  expect(r.adamStep[1]).toBeCloseTo(-1e-4, 8);
  expect(r.adamLosses.at(-1)).toBeLessThan(r.adamLosses[0]!);

  expect(r.momentum.a).toBeCloseTo(1.1, 6);
  expect(r.momentum.b).toBeCloseTo(1.9, 6);
  expect(r.momentum.momA).toBeCloseTo(-0.1, 6);
  expect(r.momentum.momB).toBeCloseTo(0.1, 6);

  expect(r.thetaKeys).toEqual(['logEpsilon', 'logLr', 'oneMinusBeta1', 'oneMinusBeta2']);
  expect(r.initialTheta.logLr).toBeCloseTo(-6.91, 2);
  expect(r.initialTheta.logEpsilon).toBeCloseTo(-18.42, 2);
  expect(r.firstMetaGradLogLr).toBeLessThan(0); // raise the learning rate
  expect(Number.isFinite(r.firstMetaLoss)).toBe(true);

  // Meta-training: the meta-loss falls and the learned learning rate rises.
  expect(r.metaLosses).toHaveLength(300);
  expect(mean(r.metaLosses.slice(-50))).toBeLessThan(mean(r.metaLosses.slice(0, 50)) - 0.05);
  expect(r.learningRates.at(-1)!).toBeGreaterThan(3 * 1e-3);
  expect(r.metaLeakedTensors).toBe(0);

  const svg = await readFile(r.plotFile, 'utf8');
  expect(svg).toContain('<svg');
  expect(svg).toContain('learned learning rate');
  expect((svg.match(/<polyline/g) ?? []).length).toBe(2);
});
