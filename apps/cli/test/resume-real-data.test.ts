import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, exited, jsonLines, jsonLinesSoFar, lopt, lopt$, tmp, waitFor } from './helpers';

beforeAll(() => ensureBuilt());

// LearnableAdam on the 8x8 Fashion-MNIST MLP (real data): 2 inner problems, 10-step
// unrolls in truncations of 5, a checkpoint every 2 outer steps.
const REAL = [
  'meta-train',
  '--lopt',
  'LearnableAdam',
  '--task',
  'ImageMLP_FashionMnist8_Relu32',
  '--tasks',
  '2',
  '--inner-steps',
  '10',
  '--trunc-length',
  '5',
  '--checkpoint-every',
  '2',
];
const STEPS = 8;

function metricSteps(dir: string): number[] {
  if (!existsSync(join(dir, 'metrics.jsonl'))) return [];
  return jsonLines(readFileSync(join(dir, 'metrics.jsonl'), 'utf8')).map((r) => r.step as number);
}

// Every field but the wall-clock ones (and the live-tensor count, which is per process).
function deterministic(dir: string): unknown[] {
  return jsonLines(readFileSync(join(dir, 'metrics.jsonl'), 'utf8')).map((r) => {
    const {
      time: _t,
      numTensors: _n,
      metrics,
      ...rest
    } = r as { time: unknown; numTensors: unknown; metrics: Record<string, unknown> };
    const m = Object.fromEntries(Object.entries(metrics).filter(([k]) => k !== 'time' && !k.endsWith('/time')));
    return { ...rest, metrics: m };
  });
}

describe('meta-train resumes bit-identically on real data', () => {
  it('a run killed with SIGKILL mid-run and resumed ends with the theta, checkpoint and metrics of an uninterrupted run', async () => {
    const straight = tmp();
    const s = lopt('-q', ...REAL, '--outer-steps', String(STEPS), '--out', straight);
    expect(s.code, s.stderr).toBe(0);

    const dir = tmp();
    const child = lopt$(...REAL, '--outer-steps', String(STEPS), '--out', dir);
    // Killed past its first checkpoint (step 2) and before the end.
    await waitFor(() => jsonLinesSoFar(join(dir, 'metrics.jsonl')).length >= 3);
    child.kill('SIGKILL');
    const { signal } = await exited(child);
    expect(signal, 'the run finished before it could be killed').toBe('SIGKILL');
    const at = (JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')) as { outerIteration: number })
      .outerIteration;
    expect(at).toBeGreaterThanOrEqual(2);
    expect(at).toBeLessThan(STEPS);
    // The killed process's lock is stale: the resumed run takes the folder over.
    expect(existsSync(join(dir, '.lopt.lock'))).toBe(true);

    const r = lopt(...REAL, '--outer-steps', String(STEPS), '--out', dir, '--resume');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`resumed from ${at}`);
    expect(r.stderr).toMatch(/was locked by process \d+ .*no longer running/);
    expect(existsSync(join(dir, '.lopt.lock'))).toBe(false);

    expect(readFileSync(join(dir, 'theta.json'), 'utf8')).toBe(readFileSync(join(straight, 'theta.json'), 'utf8'));
    expect(readFileSync(join(dir, 'checkpoint.json'), 'utf8')).toBe(
      readFileSync(join(straight, 'checkpoint.json'), 'utf8'),
    );
    expect(metricSteps(dir)).toEqual([...Array(STEPS).keys()]);
    expect(deterministic(dir)).toEqual(deterministic(straight));
    // Meta-training moved theta: the comparison is not of two untouched initial values.
    const first = jsonLines(readFileSync(join(straight, 'metrics.jsonl'), 'utf8'))[0]!.theta as Record<string, number>;
    const last = jsonLines(readFileSync(join(straight, 'metrics.jsonl'), 'utf8'))[STEPS - 1]!.theta as Record<
      string,
      number
    >;
    expect(last.logLr).not.toBe(first.logLr);
    // The loop is leak-free: the live tensors after each step stay the same from step 1 on.
    const live = jsonLines(readFileSync(join(straight, 'metrics.jsonl'), 'utf8')).map((r) => r.numTensors as number);
    expect(new Set(live.slice(1)).size, String(live)).toBe(1);
    // The checkpoint holds the data streams' positions.
    const ckpt = JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')) as {
      extra: { dataState: Record<string, { position: number }> };
    };
    expect(Object.keys(ckpt.extra.dataState).sort()).toEqual(['innerValid', 'outerValid', 'test', 'train']);
    expect(ckpt.extra.dataState.train!.position).toBeGreaterThan(0);
  });
});
