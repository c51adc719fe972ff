import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const setup = fileURLToPath(new URL('./vitest.setup.ts', import.meta.url));

/**
 * Test settings every package shares. Sources resolve through the `@lopt/source`
 * export condition, so a package's tests run against its dependencies' sources.
 * Each package also writes vitest's JSON report (one per test leg), which
 * `scripts/count-tests.mjs` counts.
 */
export function packageTestConfig(setupFiles: string[] = []) {
  return defineConfig({
    resolve: { conditions: ['@lopt/source'] },
    ssr: { resolve: { conditions: ['@lopt/source'] } },
    test: {
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      setupFiles: [setup, ...setupFiles],
      testTimeout: 120_000,
      hookTimeout: 120_000,
      pool: 'forks',
      reporters: ['default', 'json'],
      // One report per leg of the backend matrix (scripts/test.sh sets LOPT_TEST_LEG).
      outputFile: {
        json: process.env.LOPT_TEST_LEG ? `.vitest-results.${process.env.LOPT_TEST_LEG}.json` : '.vitest-results.json',
      },
    },
  });
}
