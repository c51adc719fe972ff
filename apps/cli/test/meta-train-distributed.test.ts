import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { findRedisServer, REDIS_INSTALL_HINT, startRedisServer } from '@lopt/distributed';
import { beforeAll, describe, expect, it } from 'vitest';
import { quickMetaTrain } from './fixtures';
import {
  cliEnv,
  ensureBuilt,
  exited,
  expectOneLineError,
  jsonLines,
  lopt,
  lopt$,
  loptWithEnv,
  tmp,
  waitFor,
} from './helpers';

beforeAll(() => {
  // These tests start a real redis-server; without one they fail saying what to install.
  if (findRedisServer() === undefined) throw new Error(`redis-server is not installed: ${REDIS_INSTALL_HINT}`);
  ensureBuilt();
});

const QUICK = quickMetaTrain('LearnableSGD');

/** The pids of the processes whose parent is `pid` (from /proc). */
function childPids(pid: number): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ')[1] === String(pid);
      } catch {
        return false;
      }
    })
    .map(Number);
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/**
 * Runs 30 outer steps with `--workers 2` (and `extra`) into a fresh folder, kills the
 * supervisor's `role` process with SIGKILL once outer step `afterStep` is logged, and
 * returns the folder and output of the run, which must still end well.
 */
async function killOneDuringRun(
  role: 'worker' | 'learner',
  afterStep: number,
  extra: string[],
): Promise<{ dir: string; out: string; err: string }> {
  const dir = tmp();
  const run = ['--outer-steps', '30', '--out', dir, '--workers', '2', '--log-every', '1', ...extra];
  const child = lopt$('meta-train', ...QUICK, ...run);
  await waitFor(() => child.out().includes(`outer step ${afterStep}:`));
  const victim = childPids(child.pid!).find((p) => cmdline(p).includes(`--role ${role}`));
  expect(victim, child.err()).toBeDefined();
  // Workers run with WORKER_NODE_FLAGS (garbage collection on their own thread); the learner without.
  if (role === 'worker') expect(cmdline(victim!)).toContain('--single-threaded-gc');
  else expect(cmdline(victim!)).not.toContain('--single-threaded-gc');
  process.kill(victim!, 'SIGKILL');
  const { code } = await exited(child);
  expect(code, child.err()).toBe(0);
  return { dir, out: child.out(), err: child.err() };
}

describe('lopt meta-train across processes', () => {
  it('--workers 2 starts a redis-server, a learner and 2 workers, and meta-trains to the end', () => {
    const dir = tmp();
    const r = lopt('meta-train', ...QUICK, '--outer-steps', '8', '--out', dir, '--workers', '2', '--json');
    expect(r.code, r.stderr).toBe(0);
    const records = jsonLines(r.stdout);
    const done = records.find((x) => x.event === 'done')!;
    expect(done.outerSteps).toBe(8);
    expect((done.totals as { applied: number }).applied).toBe(16);
    const steps = jsonLines(readFileSync(join(dir, 'metrics.jsonl'), 'utf8'));
    expect(steps.map((s) => s.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (const s of steps) expect((s.metrics as { maxStaleness: number }).maxStaleness).toBe(0);
    expect(existsSync(join(dir, 'theta.json'))).toBe(true);
    expect(
      (JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')) as { outerIteration: number }).outerIteration,
    ).toBe(8);
  });

  it('--workers N: a worker killed with SIGKILL is started again and the run completes', async () => {
    const run = await killOneDuringRun('worker', 2, ['--lock-duration', '3000']);
    expect(run.err).toMatch(/worker \d ended \(SIGKILL\); starting it again/);
    // Started with the flags, the workers give no tip about them.
    expect(run.err).toMatch(/serving run/);
    expect(run.err).not.toMatch(/tip: workers that fill/);
    expect(run.out).toMatch(/done: 30 outer steps/);
  });

  it('a worker started by hand without the worker flags prints how to start it with them', async () => {
    const redis = await startRedisServer();
    const child = lopt$('meta-train', ...QUICK, '--redis', redis.url, '--role', 'worker');
    try {
      await waitFor(() => /tip: workers that fill/.test(child.out() + child.err()), 60_000);
      const tip = (child.out() + child.err()).split('\n').find((l) => l.includes('tip: workers that fill'))!;
      // The command it gives: the flags, then the path of the script this worker runs.
      expect(tip).toMatch(/node --single-threaded-gc \S+index\.js meta-train/);
      const script = /--single-threaded-gc (\S+) meta-train/.exec(tip)![1]!;
      expect(existsSync(script)).toBe(true);
    } finally {
      child.kill('SIGTERM');
      await exited(child);
      await redis.stop();
    }
  });

  it('a missing redis-server is a clear error saying how to install it', () => {
    // A PATH without redis-server (the command itself runs by node's absolute path).
    const env = { ...cliEnv(), PATH: tmp() };
    const r = loptWithEnv(env, 'meta-train', ...QUICK, '--outer-steps', '2', '--out', tmp(), '--workers', '1');
    const line = expectOneLineError(r);
    expect(line).toMatch(/redis-server was not found/);
    expect(line).toMatch(/apt-get install redis-server/);
  });

  it('inconsistent distributed flags are one-line errors', () => {
    expect(expectOneLineError(lopt('meta-train', ...QUICK, '--role', 'worker'))).toMatch(
      /--role worker needs --redis URL/,
    );
    expect(
      expectOneLineError(
        lopt('meta-train', ...QUICK, '--redis', 'redis://127.0.0.1:1', '--outer-steps', '2', '--out', tmp()),
      ),
    ).toMatch(/--role learner or --role worker/);
    expect(expectOneLineError(lopt('meta-train', ...QUICK, '--redis', 'http://x', '--role', 'worker'))).toMatch(
      /not a Redis URL/,
    );
    expect(expectOneLineError(lopt('meta-train', ...QUICK, '--out', tmp()))).toMatch(/--outer-steps/);
  });

  it('the learner claims --out as the single-process form does: another run refused, --force replaces, a live lock refuses', () => {
    // The claim comes before any connection, so no server is needed at this address.
    const learner = ['--redis', 'redis://127.0.0.1:1', '--role', 'learner', '--outer-steps', '2'];
    const taken = tmp();
    writeFileSync(join(taken, 'metrics.jsonl'), '{"step":0}\n');
    expect(expectOneLineError(lopt('meta-train', ...QUICK, ...learner, '--out', taken))).toMatch(
      /already holds results of another run \(metrics\.jsonl\).*--force.*--resume/,
    );
    expect(expectOneLineError(lopt('meta-train', ...QUICK, ...learner, '--out', taken, '--resume'))).toMatch(
      /cannot resume: .* no checkpoint\.json/,
    );
    expect(expectOneLineError(lopt('meta-train', ...QUICK, ...learner, '--out', taken, '--resume', '--force'))).toMatch(
      /not both/,
    );
    const locked = tmp();
    const lock = { pid: process.pid, host: hostname(), command: 'meta-train', started: new Date().toISOString() };
    writeFileSync(join(locked, '.lopt.lock'), `${JSON.stringify(lock)}\n`);
    expect(expectOneLineError(lopt('meta-train', ...QUICK, ...learner, '--out', locked))).toMatch(
      new RegExp(`in use by another run \\(process ${process.pid}`),
    );
    // --force replaces the other run's files with this run's.
    const r = lopt('meta-train', ...QUICK, '--outer-steps', '1', '--out', taken, '--workers', '1', '--force', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(jsonLines(readFileSync(join(taken, 'metrics.jsonl'), 'utf8')).map((x) => x.step)).toEqual([0]);
  });

  it('--workers N: a learner killed with SIGKILL is started again, takes its folder back and resumes from its checkpoint', async () => {
    const { dir, ...run } = await killOneDuringRun('learner', 5, ['--checkpoint-every', '2']);
    expect(run.err).toMatch(/learner ended \(SIGKILL\); starting it again from its checkpoint/);
    expect(run.err).toMatch(/was locked by process \d+ .*no longer running: taking the folder over/);
    expect(run.out).toMatch(/resuming from the checkpoint at outer step [1-9]/);
    expect(run.out).toMatch(/done: 30 outer steps \(resumed from \d+\)/);
    expect(existsSync(join(dir, '.lopt.lock'))).toBe(false);
    const steps = jsonLines(readFileSync(join(dir, 'metrics.jsonl'), 'utf8')).map((s) => s.step as number);
    // The steps after the last checkpoint, redone by the restarted learner, are recorded once.
    expect(steps).toEqual([...Array(30).keys()]);
  });
});
