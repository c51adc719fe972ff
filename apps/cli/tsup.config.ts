import { defineConfig } from 'tsup';

// The command is one ESM file with a shebang. The workspace packages are bundled in from
// their sources (export condition `@lopt/source`), so the command runs whatever state their
// builds are in; npm dependencies (tfjs, vega, resvg, ...) stay external.
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: false,
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  splitting: false,
  noExternal: [/^@lopt\//],
  banner: { js: '#!/usr/bin/env node' },
  esbuildOptions(options) {
    options.conditions = ['@lopt/source'];
  },
});
