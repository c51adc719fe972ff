import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const here = fileURLToPath(new URL('..', import.meta.url));

it('runs the Part 1 contract unchanged and every expectation its comments state holds', () => {
  const run = spawnSync(
    process.execPath,
    ['--conditions=@lopt/source', '--import', 'tsx', 'contract/part1-introduction.ts'],
    {
      cwd: here,
      env: { ...process.env, FORCE_COLOR: '0' },
      encoding: 'utf8',
      timeout: 600_000,
    },
  );
  const out = run.stdout;
  expect(run.status, run.stderr).toBe(0);
  // Two layers: weights [64, 32] and [32, 10], biases [32] and [10].
  expect(out).toContain("'mlp/~/linear_0': { b: [ 32 ], w: [ 64, 32 ] }");
  expect(out).toContain("'mlp/~/linear_1': { b: [ 10 ], w: [ 32, 10 ] }");
  // A batch: image [128, 8, 8, 1] float32, label [128] int32.
  expect(out).toContain("{ image: [ [ 128, 8, 8, 1 ], 'float32' ], label: [ [ 128 ], 'int32' ] }");
  // The loss at initialisation is about ln(10).
  const initial = Number(/Tensor\n\s+([\d.]+)/.exec(out)?.[1]);
  expect(Math.abs(initial - Math.log(10))).toBeLessThan(0.2);
  // SGD: the test loss falls from about 2.3 to below 0.8 (the mean of the last three
  // single-batch test losses printed, which are noisy).
  const tests = [...out.matchAll(/train loss at \d+: [\d.]+\. Test loss: ([\d.]+)/g)].map((m) => Number(m[1]));
  expect(tests).toHaveLength(10);
  expect(tests[0]).toBeGreaterThan(2.1);
  expect(tests.slice(-3).reduce((a, b) => a + b, 0) / 3).toBeLessThan(0.8);
  // Adam(1e-4) on ones: [-1e-4, -1e-4].
  expect(out).toContain('[-0.0001, -0.0001]');
  // The user's MomentumOptimizer: params a = 1.1, b = 1.9; momentums a = -0.1, b = 0.1.
  expect(out).toMatch(/params: \{ a: Tensor\(1\.1, float32\), b: Tensor\(1\.9, float32\) \}/);
  expect(out).toMatch(/momentums: \{ a: Tensor\(-0\.1, float32\), b: Tensor\(0\.1, float32\) \}/);
  // LearnableAdam's theta: four scalars, logLr = ln 1e-3, logEpsilon = ln 1e-8.
  expect(out).toMatch(/logLr: Tensor\(-6\.907755, float32\)/);
  expect(out).toMatch(/logEpsilon: Tensor\(-18\.42068, float32\)/);
  // Meta-training: the 20 meta-losses printed (every 100 iterations) fall, as the
  // reference's do (about 2.25 to about 1.15).
  const tail = out.trim().split('\n').slice(-20).map(Number);
  expect(tail.every(Number.isFinite)).toBe(true);
  expect(tail[0]).toBeGreaterThan(2.1);
  expect(Math.min(...tail.slice(-5))).toBeLessThan(1.5);
});
