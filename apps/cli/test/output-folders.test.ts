import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { quickMetaTrain } from './fixtures';
import { CLI, cliEnv, ensureBuilt, exited, expectOneLineError, jsonLines, lopt, lopt$, tmp, waitFor } from './helpers';

beforeAll(() => ensureBuilt());

const QUICK = quickMetaTrain();
const TRAIN = ['train', '--task', 'QuadraticTask', '--optimizer', 'SGD', '--lr', '0.1', '--steps', '5'];

/** A pid that is certainly not running: a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('no result is lost', () => {
  it('meta-train refuses a folder holding results without a checkpoint, even with --resume; --force replaces them', () => {
    const dir = tmp();
    expect(lopt('-q', 'meta-train', ...QUICK, '--outer-steps', '6', '--out', dir).code).toBe(0);
    const theta = readFileSync(join(dir, 'theta.json'), 'utf8');
    // What the issue saw: theta and metrics, no checkpoint.
    const ckpt = readFileSync(join(dir, 'checkpoint.json'), 'utf8');
    spawnSync('rm', [join(dir, 'checkpoint.json')]);
    expect(expectOneLineError(lopt('meta-train', ...QUICK, '--outer-steps', '2', '--out', dir))).toMatch(
      /already holds results of another run \(metrics\.jsonl, theta\.json, run\.json\); choose another --out, or pass --force/,
    );
    expect(expectOneLineError(lopt('meta-train', ...QUICK, '--outer-steps', '2', '--out', dir, '--resume'))).toMatch(
      /cannot resume: .* holds results \(metrics\.jsonl, theta\.json, run\.json\) but no checkpoint\.json to continue from; pass --force/,
    );
    expect(readFileSync(join(dir, 'theta.json'), 'utf8')).toBe(theta);
    // --resume in a folder with no results at all starts a fresh run, and says so.
    const empty = tmp();
    const fresh = lopt('meta-train', ...QUICK, '--outer-steps', '1', '--out', empty, '--resume');
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.stderr).toContain(`no checkpoint in '${empty}': starting a fresh run`);
    expect(readdirSync(empty).sort()).toEqual(['checkpoint.json', 'metrics.jsonl', 'run.json', 'theta.json']);
    // With a checkpoint, a run without --resume is refused too.
    writeFileSync(join(dir, 'checkpoint.json'), ckpt);
    expect(expectOneLineError(lopt('meta-train', ...QUICK, '--outer-steps', '8', '--out', dir))).toMatch(
      /--resume continues a run/,
    );
    expectOneLineError(lopt('meta-train', ...QUICK, '--outer-steps', '8', '--out', dir, '--resume', '--force'));
    // --force starts over: a fresh 2-step run, not a resume of the 6-step one.
    const f = lopt('--json', 'meta-train', ...QUICK, '--outer-steps', '2', '--out', dir, '--force');
    expect(f.code, f.stderr).toBe(0);
    expect(jsonLines(f.stdout).pop()).toMatchObject({ event: 'done', outerSteps: 2, resumedFrom: 0 });
    expect(jsonLines(readFileSync(join(dir, 'metrics.jsonl'), 'utf8')).map((r) => r.step)).toEqual([0, 1]);
    expect(readdirSync(dir).sort()).toEqual(['checkpoint.json', 'metrics.jsonl', 'run.json', 'theta.json']);
  });

  it('train and eval refuse to overwrite earlier results unless --force; default eval folders move on to the next free name', () => {
    const dir = tmp();
    expect(lopt('-q', ...TRAIN, '--out', dir).code).toBe(0);
    const before = readFileSync(join(dir, 'train.jsonl'), 'utf8');
    expect(expectOneLineError(lopt(...TRAIN, '--out', dir))).toMatch(
      /already holds results of another run \(train\.jsonl, train-loss\.svg, train-loss\.png\)/,
    );
    expect(readFileSync(join(dir, 'train.jsonl'), 'utf8')).toBe(before);
    const f = lopt('-q', ...TRAIN.slice(0, -1), '3', '--out', dir, '--force');
    expect(f.code, f.stderr).toBe(0);
    expect(jsonLines(readFileSync(join(dir, 'train.jsonl'), 'utf8')).pop()).toMatchObject({ step: 2 });

    const run = tmp();
    expect(lopt('-q', 'meta-train', ...QUICK, '--outer-steps', '1', '--out', run).code).toBe(0);
    const evalArgs = ['eval', '--theta', join(run, 'theta.json'), '--task', 'QuadraticTask', '--steps', '3'];
    const out = tmp();
    expect(lopt('-q', ...evalArgs, '--out', out).code).toBe(0);
    expect(expectOneLineError(lopt(...evalArgs, '--out', out))).toMatch(
      /already holds results of another run \(eval\.json, eval\.md, eval-loss\.svg, eval-loss\.png\)/,
    );
    // The default folder (.lopt-out/eval, relative to the working folder) is never refused.
    const cwd = tmp();
    for (let i = 0; i < 2; i++) {
      const r = spawnSync(process.execPath, [CLI, '-q', ...evalArgs], { cwd, env: cliEnv(), encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain(i === 0 ? `in .lopt-out/eval\n` : `in .lopt-out/eval-2\n`);
    }
    expect(readdirSync(join(cwd, '.lopt-out')).sort()).toEqual(['eval', 'eval-2']);
  });

  it('a lock file keeps a second run out of a folder in use; a stale lock of a dead process is taken over', async () => {
    const dir = tmp();
    const child = lopt$('meta-train', ...QUICK, '--outer-steps', '100000', '--out', dir);
    await waitFor(
      () => existsSync(join(dir, 'metrics.jsonl')) && readFileSync(join(dir, 'metrics.jsonl'), 'utf8').length > 0,
    );
    const lock = JSON.parse(readFileSync(join(dir, '.lopt.lock'), 'utf8')) as { pid: number };
    expect(lock.pid).toBe(child.pid);
    const line = expectOneLineError(lopt('meta-train', ...QUICK, '--outer-steps', '2', '--out', dir, '--resume'));
    expect(line).toMatch(
      new RegExp(
        `'.*' is in use by another run \\(process ${child.pid}: lopt meta-train, started .*\\); wait for it to finish or choose another --out`,
      ),
    );
    expectOneLineError(lopt(...TRAIN, '--out', dir, '--force'));
    child.kill('SIGTERM');
    expect((await exited(child)).code).toBe(130);
    expect(existsSync(join(dir, '.lopt.lock'))).toBe(false);

    // A lock left by a process that no longer runs (a kill -9, a crash).
    const stale = tmp();
    mkdirSync(stale, { recursive: true });
    const pid = deadPid();
    writeFileSync(
      join(stale, '.lopt.lock'),
      JSON.stringify({ pid, host: hostname(), command: 'train', started: '2026-01-01T00:00:00.000Z' }),
    );
    const r = lopt(...TRAIN, '--out', stale);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      `was locked by process ${pid} (lopt train), which is no longer running: taking the folder over`,
    );
    expect(existsSync(join(stale, '.lopt.lock'))).toBe(false);
  });
});
