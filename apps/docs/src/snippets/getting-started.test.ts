import { expect, it } from 'vitest';
import { gettingStarted } from './getting-started';

it('runs the Getting started code: the gradient is exact and the first loop trains', async () => {
  const r = await gettingStarted({ steps: 300, data: { download: false }, log: () => {} });
  expect(r.backend).toBe('wasm'); // the test setup's backend, found again by setupBackend
  // f = sum((w + b)^2) at w = [1, 2, 3], b = 0.5: 1.5^2 + 2.5^2 + 3.5^2; df/dw = 2(w + b); df/db = sum of those.
  expect(r.value).toBeCloseTo(20.75, 4);
  expect(r.grad.w).toEqual([3, 5, 7]);
  expect(r.grad.b).toBeCloseTo(15, 5);
  expect(r.losses[0]).toBeCloseTo(Math.log(10), 0);
  expect(r.testLoss).toBeLessThan(0.9);
  expect(r.leakedTensors).toBe(0);
});
