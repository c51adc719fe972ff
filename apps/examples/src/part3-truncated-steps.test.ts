import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { runPart3 } from './part3-truncated-steps.js';

const data = { dataDir: `${process.env.LOPT_DATA_DIR}/fashion-mnist`, cacheRoot: null, download: false } as const;

it('runs Part 3 (shortened): resets every truncation, offsets break the lock step', async () => {
  const start = tf.memory().numTensors;
  const r = await runPart3({ innerSteps: 24, truncationLength: 5, numTasks: 3, data, log: () => {} });
  expect(r.constantDone).toEqual([...new Array(10).fill(false), true, true]);
  // Length-5 truncations: 5 training steps, then one reset step (NaN).
  expect(r.sequentialLosses.slice(0, 6).map(Number.isNaN)).toEqual([false, false, false, false, false, true]);
  expect(r.sequentialLosses[4]!).toBeLessThan(r.sequentialLosses[0]!);
  const resetsAt = (rows: number[][], k: number) =>
    rows.map((row, i) => (Number.isNaN(row[k]!) ? i : -1)).filter((i) => i >= 0);
  expect(resetsAt(r.lockStepLosses, 0)).toEqual(resetsAt(r.lockStepLosses, 1));
  const offsets = [0, 1, 2].map((k) => resetsAt(r.offsetLosses, k)[0]);
  expect(new Set(offsets).size).toBeGreaterThan(1);
  // The vectorized step reports loss 0 with mask false when it resets a problem.
  for (const s of r.vectorized) s.mask.forEach((m, k) => !m && expect(s.loss[k]).toBe(0));
  expect(r.vectorized.some((s) => s.mask.includes(false))).toBe(true);
  expect(tf.memory().numTensors).toBeLessThanOrEqual(start + 4);
});
