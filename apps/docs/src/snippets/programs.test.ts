/**
 * Every program the Getting started page shows runs here as a visitor would run it (a
 * separate Node process, TypeScript through tsx), and what it prints must be the output the
 * page shows (`<name>.out.txt`, included by the page). On the default backend (wasm) the
 * text must match exactly; on another backend (LOPT_BACKEND=cpu) every number must agree
 * to float32 round-off carried through training. `LOPT_UPDATE_OUTPUTS=1` rewrites the files.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const docsRoot = resolve(here, '../..');
/** The programs, in the order the page shows them. */
export const PROGRAMS = ['backend', 'gradient', 'first-training-loop', 'learned-optimizer'];

/** Runs one program and returns what it printed. */
export function runProgram(name: string): string {
  const r = spawnSync(process.execPath, ['--conditions=@lopt/source', '--import', 'tsx', join(here, `${name}.ts`)], {
    cwd: docsRoot,
    env: { ...process.env, FORCE_COLOR: '0' },
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (r.status !== 0) throw new Error(`${name}.ts exited with ${r.status ?? r.signal}:\n${r.stderr}`);
  return r.stdout;
}

const numbers = (text: string) => [...text.matchAll(/-?\d+(?:\.\d+)?(?:e[-+]?\d+)?/gi)].map((m) => Number(m[0]));
const words = (text: string) => text.replace(/-?\d+(?:\.\d+)?(?:e[-+]?\d+)?/gi, '#');

const backend = process.env.LOPT_BACKEND || 'wasm';

for (const name of PROGRAMS) {
  it(`the Getting started program ${name}.ts prints what the page shows`, () => {
    const out = runProgram(name);
    const file = join(here, `${name}.out.txt`);
    if (process.env.LOPT_UPDATE_OUTPUTS && backend === 'wasm') {
      writeFileSync(`${file}.tmp`, out);
      renameSync(`${file}.tmp`, file);
    }
    const shown = readFileSync(file, 'utf8');
    if (backend === 'wasm') {
      expect(out).toBe(shown);
    } else {
      expect(words(out)).toBe(words(shown).replace('backend: wasm', `backend: ${backend}`));
      const [got, want] = [numbers(out), numbers(shown)];
      expect(got).toHaveLength(want.length);
      // Training amplifies float32 round-off differences between kernels: agree to a few percent.
      got.forEach((g, i) =>
        expect(Math.abs(g - want[i]!), `number ${i}: ${g} vs ${want[i]}`).toBeLessThanOrEqual(
          0.05 * Math.abs(want[i]!) + 0.02,
        ),
      );
    }
  }, 300_000);
}
