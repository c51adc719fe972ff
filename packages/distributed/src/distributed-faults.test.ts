import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMetricsLines } from '@lopt/outer-trainers';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRedisServer, startRedisServer } from './redis-server.js';
import { killAll, startFixture } from './test-processes.js';
import { requireRedisServer } from './test-redis.js';

// Real processes against a real redis-server on a free loopback port: a learner and
// workers run as child processes, and faults are real signals.
let redis: LocalRedisServer;
let dir: string;
beforeAll(async () => {
  requireRedisServer();
  redis = await startRedisServer();
  dir = mkdtempSync(join(tmpdir(), 'lopt-distributed-'));
});
afterEach(() => killAll());
afterAll(async () => {
  killAll();
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function files(name: string) {
  return { ckpt: join(dir, `${name}.ckpt.json`), metrics: join(dir, `${name}.jsonl`) };
}

function checkpointStep(path: string): number {
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as { outerIteration: number }).outerIteration : -1;
}

describe('faults survived, with a real redis-server and real processes', () => {
  it('a worker killed with SIGKILL mid-estimate: its request is taken over and the run completes', async () => {
    const f = files('kill-worker');
    const steps = 8;
    const a = startFixture('worker.fixture.ts', [redis.url, 'kill-worker', '1', '400', '5000']);
    const b = startFixture('worker.fixture.ts', [redis.url, 'kill-worker', '2', '400', '5000']);
    // Both workers up before the first request, so a version's two requests go one to each
    // (a slow start of b could leave both to a): the request a is killed on is then the
    // second estimate b computes of that version.
    await a.waitFor(/^ready$/, 60_000);
    await b.waitFor(/^ready$/, 60_000);
    const learner = startFixture('learner.fixture.ts', [
      redis.url,
      'kill-worker',
      f.ckpt,
      f.metrics,
      String(steps),
      'sync',
      '2',
    ]);
    // The third estimate worker a starts: kill it while it computes.
    const third = () => a.lines.filter((l) => l.startsWith('estimating')).length >= 3;
    await a.waitFor(/^estimating/, 60_000);
    const deadline = Date.now() + 60_000;
    while (!third() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(third()).toBe(true);
    const killedAt = Number(a.lines.filter((l) => l.startsWith('estimating'))[2]!.split(' ')[1]);
    a.child.kill('SIGKILL');
    expect(await a.exited(10_000)).toBe('SIGKILL');
    expect(await learner.exited(90_000)).toBe(0);
    expect(await b.exited(20_000)).toBe(0);
    expect(checkpointStep(f.ckpt)).toBe(steps);
    const records = parseMetricsLines(readFileSync(f.metrics, 'utf8'));
    expect(records.map((r) => r.step)).toEqual([...Array(steps).keys()]);
    // Worker b computed the killed request as well as its own: two estimates of that version.
    const bAt = b.lines.filter((l) => l === `estimating ${killedAt}`).length;
    expect(bAt, `${a.output()}\n${b.output()}`).toBeGreaterThanOrEqual(2);
    // The killed worker never sent its estimate of that version.
    expect(a.lines).not.toContain(`sent ${killedAt}`);
  });

  it('the learner killed with SIGKILL: restarted, it resumes from its checkpoint and the same workers carry on', async () => {
    const f = files('kill-learner');
    const steps = 14;
    const args = [redis.url, 'kill-learner', f.ckpt, f.metrics, String(steps), 'sync', '2'];
    const w1 = startFixture('worker.fixture.ts', [redis.url, 'kill-learner', '1', '100', '5000']);
    const w2 = startFixture('worker.fixture.ts', [redis.url, 'kill-learner', '2', '100', '5000']);
    const first = startFixture('learner.fixture.ts', args);
    await first.waitFor(/^step 5$/, 90_000);
    first.child.kill('SIGKILL');
    expect(await first.exited(10_000)).toBe('SIGKILL');
    const saved = checkpointStep(f.ckpt);
    expect(saved).toBeGreaterThanOrEqual(5);
    const sentBefore = w1.lines.length + w2.lines.length;
    const second = startFixture('learner.fixture.ts', args);
    const started = await second.waitFor(/^started at/, 60_000);
    expect(Number(started.split(' ')[2])).toBe(saved);
    expect(await second.exited(90_000), second.output()).toBe(0);
    expect(await w1.exited(20_000)).toBe(0);
    expect(await w2.exited(20_000)).toBe(0);
    expect(checkpointStep(f.ckpt)).toBe(steps);
    // The workers that served the first learner served the second one.
    expect(w1.lines.length + w2.lines.length).toBeGreaterThan(sentBefore);
    const done = second.lines.find((l) => l.startsWith('done '))!;
    expect(JSON.parse(done.slice(5)).applied).toBe(2 * steps);
    // Metrics after the restart continue from the checkpoint's step.
    const records = parseMetricsLines(readFileSync(f.metrics, 'utf8'));
    expect(records.at(-1)!.step).toBe(steps - 1);
  });

  it('the Redis server restarted (its data lost): learner and workers reconnect and the run completes', async () => {
    const f = files('restart-redis');
    const steps = 10;
    const w1 = startFixture('worker.fixture.ts', [redis.url, 'restart-redis', '1', '100', '3000']);
    const w2 = startFixture('worker.fixture.ts', [redis.url, 'restart-redis', '2', '100', '3000']);
    const learner = startFixture('learner.fixture.ts', [
      redis.url,
      'restart-redis',
      f.ckpt,
      f.metrics,
      String(steps),
      'sync',
      '2',
    ]);
    await learner.waitFor(/^step 3$/, 90_000);
    await redis.kill();
    await new Promise((r) => setTimeout(r, 1500));
    await redis.restart();
    expect(await learner.exited(90_000), learner.output()).toBe(0);
    expect(await w1.exited(30_000), w1.output()).toBe(0);
    expect(await w2.exited(30_000), w2.output()).toBe(0);
    expect(checkpointStep(f.ckpt)).toBe(steps);
    const records = parseMetricsLines(readFileSync(f.metrics, 'utf8'));
    expect(records.map((r) => r.step)).toEqual([...Array(steps).keys()]);
  });
});
