import { expect, it } from 'vitest';
import { runPart5 } from './part5-meta-training.js';

const data = { dataDir: `${process.env.LOPT_DATA_DIR}/fashion-mnist`, cacheRoot: null, download: false } as const;

it('runs Part 5 (shortened): both meta-training loops produce finite meta-losses', async () => {
  const r = await runPart5({ outerTrainSteps: 2, numTasks: 2, maxLength: 30, truncLength: 5, data, log: () => {} });
  expect(r.losses).toHaveLength(2);
  expect(r.workerLosses).toHaveLength(2);
  for (const l of [...r.losses, ...r.workerLosses]) expect(Number.isFinite(l) && l > 0).toBe(true);
  expect(r.outerStepsPerSecond).toBeGreaterThan(0);
});
