/**
 * The install commands of the Getting started page, run as shown: the packages are built
 * and packed in this repository, installed with npm into a new project outside it, and
 * the page's programs run there with `npx tsx`. Only the two folders beside the checkout
 * (`../lopt-tarballs`, `../my-app`) are moved into a temporary directory.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../../../..');
const work = mkdtempSync(join(tmpdir(), 'lopt-install-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

it("installs lopt from packed tarballs with the page's commands and runs the page's programs", () => {
  const script = readFileSync(join(here, 'install.sh'), 'utf8')
    .replaceAll('$(pwd)/../lopt-tarballs', join(work, 'lopt-tarballs'))
    .replaceAll('../my-app', join(work, 'my-app'));
  const install = spawnSync('bash', ['-euo', 'pipefail', '-c', script], {
    cwd: repoRoot,
    env: {
      ...process.env,
      FORCE_COLOR: '0',
      npm_config_loglevel: 'error',
      npm_config_fund: 'false',
      npm_config_audit: 'false',
    },
    encoding: 'utf8',
    timeout: 600_000,
  });
  expect(install.status, `${install.stdout}\n${install.stderr}`).toBe(0);
  const app = join(work, 'my-app');
  // Outside the workspace there is no test setup: the program picks its backend itself.
  for (const name of ['gradient', 'backend']) {
    copyFileSync(join(here, `${name}.ts`), join(app, `${name}.ts`));
    const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0' };
    delete env.LOPT_BACKEND;
    const run = spawnSync('npx', ['tsx', `${name}.ts`], { cwd: app, env, encoding: 'utf8', timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe(readFileSync(join(here, `${name}.out.txt`), 'utf8'));
  }
}, 900_000);
