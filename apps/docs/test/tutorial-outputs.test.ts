/**
 * The tutorials' output blocks and figures are committed (site/tutorials/outputs/, written
 * by scripts/tutorial-outputs.ts from real runs of the example files). This test runs the
 * script again into a temporary folder and checks that every block is reproduced: the same
 * text on the default backend (wasm), the same lines with numbers agreeing to round-off
 * carried through training on another (LOPT_BACKEND=cpu). Timing lines are the exception.
 * The figures must be the same files on wasm. It also checks that every output block a
 * page includes exists.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';

const docsRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const committed = join(docsRoot, 'site/tutorials/outputs');
const work = mkdtempSync(join(tmpdir(), 'lopt-tutorial-outputs-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const backend = process.env.LOPT_BACKEND || 'wasm';

const NUMBER = /-?\d+(?:\.\d+)?(?:e[-+]?\d+)?/gi;
// Wall-clock lines differ run to run (and machine to machine).
const isTiming = (line: string) => /\d+(\.\d+)? ms each|meta-iterations in|\btime'?: /.test(line);
const lines = (md: string) => md.split('\n').filter((l) => !isTiming(l));

it('every output block a tutorial page includes exists', () => {
  const missing: string[] = [];
  const pages = readdirSync(join(docsRoot, 'site/tutorials')).filter((f) => f.endsWith('.md'));
  for (const page of pages) {
    const text = readFileSync(join(docsRoot, 'site/tutorials', page), 'utf8');
    for (const [, file, region] of text.matchAll(/<!--@include: \.\/outputs\/([\w-]+\.md)#([\w-]+)-->/g)) {
      const out = readFileSync(join(committed, file!), 'utf8');
      if (!out.includes(`<!-- #region ${region} -->`)) missing.push(`${page}: ${file}#${region}`);
    }
  }
  expect(missing).toEqual([]);
});

it('the committed tutorial outputs are what the examples print when run again', () => {
  const run = spawnSync(
    process.execPath,
    ['--conditions=@lopt/source', '--import', 'tsx', 'scripts/tutorial-outputs.ts', work],
    {
      cwd: docsRoot,
      env: { ...process.env, FORCE_COLOR: '0' },
      encoding: 'utf8',
      timeout: 1_500_000,
    },
  );
  expect(run.status, run.stderr).toBe(0);
  console.log(run.stdout.trim());
  for (const file of readdirSync(committed)) {
    const want = readFileSync(join(committed, file), 'utf8');
    const got = readFileSync(join(work, file), 'utf8');
    if (file.endsWith('.svg')) {
      if (backend === 'wasm') expect(got, file).toBe(want);
      continue;
    }
    const [g, w] = [lines(got), lines(want)];
    if (backend === 'wasm') {
      expect(g.join('\n'), file).toBe(w.join('\n'));
      continue;
    }
    expect(
      g.map((l) => l.replace(NUMBER, '#')),
      file,
    ).toEqual(w.map((l) => l.replace(NUMBER, '#')));
    g.forEach((line, i) => {
      const [gs, ws] = [line.match(NUMBER) ?? [], w[i]!.match(NUMBER) ?? []];
      gs.forEach((x, j) => {
        const [a, b] = [Number(x), Number(ws[j])];
        expect(Math.abs(a - b), `${file}: ${line} vs ${w[i]}`).toBeLessThanOrEqual(0.05 * Math.abs(b) + 0.02);
      });
    });
  }
}, 1_600_000);
