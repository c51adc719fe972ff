import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const setup = fileURLToPath(new URL('./vitest.setup.ts', import.meta.url));

/**
 * Test settings every package shares. Sources resolve through the `@lopt/source`
 * export condition, so a package's tests run against its dependencies' sources.
 * Each package also writes vitest's JSON report, which `.ci/run` counts.
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
      outputFile: { json: '.vitest-results.json' },
    },
  });
}
