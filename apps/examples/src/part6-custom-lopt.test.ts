import { expect, it } from 'vitest';
import { runPart6 } from './part6-custom-lopt.js';

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

it('runs Part 6: the per-parameter MLP optimizer meta-trains on quadratics, nothing leaks', async () => {
  const r = await runPart6({ metaIterations: 150, log: () => {} });
  expect(r.thetaShapes).toEqual({ w1: [2, 8], b1: [8], w2: [8, 1], logLr: [] });
  // One step from 0 with gradient 1: momentum 0.1 times lr 0.01, plus the MLP's small part.
  for (const x of r.firstStep) expect(x).toBeCloseTo(-1e-3, 3);
  expect(r.metaLosses).toHaveLength(150);
  expect(mean(r.metaLosses.slice(-20))).toBeLessThan(0.5 * mean(r.metaLosses.slice(0, 20)));
  expect(r.learningRates.at(-1)!).toBeGreaterThan(2 * r.learningRates[0]!);
  expect(r.heldOut.after).toBeLessThan(0.1 * r.heldOut.before);
  expect(r.leakedTensors).toBe(0);
});
