import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

const setup = fileURLToPath(new URL('./vitest.setup.ts', import.meta.url));

/**
 * Test settings every package shares. Sources resolve through the `@lopt/source`
 * export condition, so a package's tests run against its dependencies' sources.
 * Each package also writes vitest's JSON report (one per test leg), which
 * `scripts/count-tests.mjs` counts.
 *
 * `slowFiles` are test files that run only with slow tests on (the wasm leg; skipped under
 * `LOPT_SLOW_TESTS=off`). Each package says why beside its list; the README's "Backend
 * matrix" lists them all. The README examples' tests (`src/readme*.test.ts`) are always
 * among them: they show usage, and run once, while the numerics under them are tested on
 * every backend.
 */
export function packageTestConfig(setupFiles: string[] = [], slowFiles: string[] = []) {
  const slowOff = process.env.LOPT_SLOW_TESTS === 'off';
  return defineConfig({
    resolve: { conditions: ['@lopt/source'] },
    ssr: { resolve: { conditions: ['@lopt/source'] } },
    test: {
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      exclude: [...configDefaults.exclude, ...(slowOff ? ['src/readme*.test.ts', ...slowFiles] : [])],
      setupFiles: [setup, ...setupFiles],
      // Guards against a hang, not speed checks: CI runs the same package in several legs at
      // once on a shared machine, where a test's time can stretch several-fold (a 30 s test
      // measured near 120 s under load), so the guard sits far above any test's own time.
      testTimeout: 600_000,
      hookTimeout: 600_000,
      pool: 'forks',
      reporters: ['default', 'json'],
      // One report per leg of the backend matrix (scripts/test.sh sets LOPT_TEST_LEG).
      outputFile: {
        json: process.env.LOPT_TEST_LEG ? `.vitest-results.${process.env.LOPT_TEST_LEG}.json` : '.vitest-results.json',
      },
    },
  });
}
