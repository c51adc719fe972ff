// The compiled kernels shipped as base64 (src/*-kernel-wasm.ts) are fresh compiles of
// their AssemblyScript sources in wasm/.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { lazyWasmKernel } from './wasm-kernel.js';

describe('compiled kernels', () => {
  it('are fresh compiles of wasm/*.ts (node scripts/build-wasm.mjs regenerates them)', () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const r = spawnSync(process.execPath, ['scripts/build-wasm.mjs', '--check'], { cwd: root, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 180_000);

  it('load as undefined where the module does not validate', () => {
    const load = lazyWasmKernel<object>(btoa('not wasm'), 'test kernel');
    expect(load()).toBeUndefined();
    expect(load()).toBeUndefined();
  });
});
