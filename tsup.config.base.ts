import { defineConfig, type Options } from 'tsup';

/**
 * The one build every package shares: ESM + CJS + `.d.ts` from `src/index.ts`.
 * Dependencies stay external (tsup's default), so a single copy of tfjs-core is used.
 */
export function packageConfig(overrides: Options = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'es2022',
    splitting: false,
    treeshake: true,
    ...overrides,
  });
}
