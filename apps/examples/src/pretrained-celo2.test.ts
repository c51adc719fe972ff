import { expect, it } from 'vitest';
import { runPretrainedCelo2 } from './pretrained-celo2.js';

it('trains the Fashion-MNIST MLP with the published Celo2 theta, untuned, and leaks nothing (shortened)', async () => {
  const r = await runPretrainedCelo2({ steps: 100, data: { download: false }, log: () => {} });
  // Flattening order: linear_0.b, linear_0.w, ..., linear_3.w; the middle matrices take the learned rule.
  expect(r.adamw).toEqual([true, true, true, false, true, false, true, true]);
  expect(r.celo2Train.first).toBeCloseTo(Math.log(10), 0);
  // From ln 10 = 2.3 to well under 1 in 100 steps on real data.
  expect(r.testLoss.celo2).toBeLessThan(1);
  expect(r.testLoss.adam).toBeLessThan(1);
  expect(r.leakedTensors).toBe(0);
}, 900_000);
