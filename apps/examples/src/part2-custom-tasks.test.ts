import { expect, it } from 'vitest';
import { runPart2 } from './part2-custom-tasks.js';

it('runs Part 2: hand-written tasks train, a family gives different tasks, nothing leaks', async () => {
  const r = await runPart2({ steps: 200, numTasks: 3, data: { download: false }, log: () => {} });
  // sum(x^2) of 10 standard normals starts near 10 and Adam drives it towards 0.
  expect(r.quadratic.first).toBeGreaterThan(2);
  expect(r.quadratic.last).toBeLessThan(0.05 * r.quadratic.first);
  // Softmax regression on real 8x8 Fashion-MNIST: from ln 10 to well below it.
  expect(r.fashion.firstTrain).toBeCloseTo(Math.log(10), 0);
  expect(r.fashion.test).toBeLessThan(1.0);
  expect(r.fashion.testAccuracy).toBeGreaterThan(0.65);
  // Each family member is its own quadratic, and SGD solves each one.
  expect(new Set(r.family.map((f) => f.cfg.scale)).size).toBe(3);
  for (const f of r.family) {
    expect(f.cfg.scale).toBeGreaterThanOrEqual(0.1);
    expect(f.cfg.scale).toBeLessThanOrEqual(10);
    expect(f.last).toBeLessThan(1e-3 * f.first);
  }
  expect(r.single.samples).toEqual([0, 0, 0]);
  expect(r.single.names).toEqual(['MyQuadraticTask', 'MyQuadraticTask', 'MyQuadraticTask']);
  expect(r.leakedTensors).toBe(0);
});
