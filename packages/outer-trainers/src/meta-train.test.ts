import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { random, treeDispose } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { configFingerprint, deserializeCheckpoint, serializeCheckpoint } from './checkpoint.js';
import { type CheckpointStore, metaTrain } from './meta-train.js';
import { parseMetricsLines } from './metrics.js';
import { fileCheckpointStore, writeFileAtomic } from './node.js';
import { resumeTestConfig, resumeTestLearner } from './resume-fixture.js';
import type { LrWdTheta } from './test-helpers.js';
import { disposeExcept } from './tree-utils.js';

const here = dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'lopt-outer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function thetaBits(theta: LrWdTheta): number[] {
  return [theta.lr, theta.wd].map((t) => new Uint32Array(new Float32Array(t.dataSync()).buffer)[0]!);
}

function memoryStore(): CheckpointStore & { text?: string } {
  const s: CheckpointStore & { text?: string } = { load: () => s.text, save: (t) => (s.text = t) };
  return s;
}

const STEPS = 30;

describe('metaTrain with checkpoints', () => {
  it('learns, writes metrics lines, and leaks no tensors over outer steps', async () => {
    const learner = resumeTestLearner();
    const lines: string[] = [];
    const first = await metaTrain({
      learner,
      seed: 1,
      numSteps: 1,
      config: resumeTestConfig,
      onMetricsLine: (l) => lines.push(l),
    });
    const start = tf.memory().numTensors;
    let state = first.state;
    for (let i = 0; i < 5; i++) state = learner.update(state, random.PRNGKey(i)).state;
    expect(tf.memory().numTensors).toBe(start);
    disposeExcept(state);
    const rec = parseMetricsLines(lines.join(''))[0]!;
    expect(rec.step).toBe(0);
    expect(Number.isFinite(rec.loss)).toBe(true);
    for (const k of [
      'thetaGradNorm',
      'meanLoss',
      'time',
      'TestQuadraticFamily/innerStepMean',
      'TestQuadraticFamily/unrollLength',
    ]) {
      expect(rec.metrics[k]).toBeTypeOf('number');
    }
  });

  it('a run killed with SIGKILL and resumed reaches the bit-identical theta', async () => {
    const ckpt = join(dir, 'run.ckpt.json');
    const metrics = join(dir, 'run.jsonl');
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--conditions=@lopt/source',
        join(here, 'meta-train-child.fixture.ts'),
        ckpt,
        metrics,
        String(STEPS),
        '100',
      ],
      { cwd: join(here, '..'), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const killedAt = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        const m = [...out.matchAll(/step (\d+)/g)];
        const n = m.length ? Number(m[m.length - 1]![1]) : 0;
        if (n >= 8 && !child.killed) {
          child.kill('SIGKILL');
          resolve(n);
        }
      });
      child.on('exit', (code, sig) => {
        if (sig !== 'SIGKILL') reject(new Error(`child exited (${code}) before being killed: ${err}`));
      });
    });
    await new Promise((r) => child.on('exit', r));
    expect(out).not.toContain('finished');
    expect(killedAt).toBeLessThan(STEPS);
    // Only the checkpoint remains: no temporary file is left behind by the atomic writes.
    expect(readdirSync(dir).filter((f) => f.startsWith('run.ckpt'))).toEqual(['run.ckpt.json']);
    const saved = deserializeCheckpoint(readFileSync(ckpt, 'utf8'));
    // The child reports a step before checkpointing it: the checkpoint is that step or the one before.
    expect(saved.outerIteration).toBeGreaterThanOrEqual(killedAt - 1);
    expect(saved.outerIteration).toBeLessThan(STEPS);
    disposeExcept(saved.state);

    const learner = resumeTestLearner();
    const resumed = await metaTrain({
      learner,
      seed: resumeTestConfig.seed,
      numSteps: STEPS,
      config: resumeTestConfig,
      store: fileCheckpointStore(ckpt),
      checkpointEvery: 5,
    });
    expect(resumed.resumedFrom).toBe(saved.outerIteration);
    const straight = await metaTrain({
      learner,
      seed: resumeTestConfig.seed,
      numSteps: STEPS,
      config: resumeTestConfig,
    });
    const a = thetaBits(learner.getMetaParams(resumed.state));
    const b = thetaBits(learner.getMetaParams(straight.state));
    expect(a).toEqual(b);
    // Meta-training moved theta (the comparison is not of two untouched initial values).
    expect(learner.getMetaParams(straight.state).lr.dataSync()[0]).not.toBeCloseTo(0.1, 4);
    expect(parseMetricsLines(readFileSync(metrics, 'utf8')).length).toBeGreaterThanOrEqual(saved.outerIteration);
    disposeExcept(resumed.state);
    disposeExcept(straight.state);
  });

  it('refuses a checkpoint of another configuration, a mismatched theta, or a corrupt file', async () => {
    const learner = resumeTestLearner();
    const store = memoryStore();
    const run = await metaTrain({ learner, seed: 3, numSteps: 2, config: resumeTestConfig, store });
    disposeExcept(run.state);
    // The refusal names the settings that differ.
    await expect(
      metaTrain({ learner, seed: 3, numSteps: 4, config: { ...resumeTestConfig, K: 8, truncLength: 3 }, store }),
    ).rejects.toThrow(
      /another configuration \(settings differ \(checkpoint -> this run\): K: 4 -> 8; truncLength: 2 -> 3\)/,
    );
    await expect(
      metaTrain({ learner, seed: 4, numSteps: 4, config: { ...resumeTestConfig, seed: 4 }, store }),
    ).rejects.toThrow(/seed: 7 -> 4/);
    await expect(metaTrain({ learner, seed: 4, numSteps: 4, config: resumeTestConfig, store })).rejects.toThrow(
      /another seed/,
    );
    const ck = deserializeCheckpoint<LrWdTheta>(store.text!);
    expect(() =>
      deserializeCheckpoint(store.text!, {
        thetaTemplate: { lr: tf.zeros([2]), wd: ck.state.gradientLearnerState.thetaOptState.params.wd },
      }),
    ).toThrow(/checkpoint theta does not match at \.lr: expected \[2\] float32, got \[\] float32/);
    expect(() => deserializeCheckpoint(store.text!, { thetaTemplate: { logLr: tf.scalar(0) } })).toThrow(
      /missing leaf \.logLr/,
    );
    expect(() => deserializeCheckpoint(store.text!.slice(0, 100))).toThrow(/corrupt or truncated/);
    expect(() => deserializeCheckpoint('{"format":"other"}')).toThrow(/not a lopt-outer-trainers-checkpoint/);
    // A round trip keeps every bit of the state.
    const again = serializeCheckpoint({ ...ck, fingerprint: configFingerprint(resumeTestConfig) });
    expect(again).toBe(store.text);
    disposeExcept(ck.state);
    treeDispose([]);
  });

  it('saves and restores the position of data streams through dataState', async () => {
    const learner = resumeTestLearner();
    const store = memoryStore();
    let position = 0;
    const dataState = {
      get: () => ({ position }),
      set: (s: unknown) => (position = (s as { position: number }).position),
    };
    const run = await metaTrain({
      learner,
      seed: 5,
      numSteps: 3,
      config: resumeTestConfig,
      store,
      checkpointEvery: 1,
      onStep: () => {
        position += 10;
      },
      dataState,
    });
    disposeExcept(run.state);
    position = -1;
    const resumed = await metaTrain({ learner, seed: 5, numSteps: 3, config: resumeTestConfig, store, dataState });
    expect(position).toBe(30);
    disposeExcept(resumed.state);
  });

  it('a stop signal finishes the step, checkpoints it, and the resumed run is bit-identical', async () => {
    const learner = resumeTestLearner();
    const store = memoryStore();
    const stop = new AbortController();
    const seen: number[] = [];
    const first = await metaTrain({
      learner,
      seed: resumeTestConfig.seed,
      numSteps: 12,
      config: resumeTestConfig,
      store,
      checkpointEvery: 5,
      // An async hook: the loop waits for it before the next step.
      onStep: async (step, _loss, _metrics, state) => {
        await new Promise((r) => setTimeout(r, 1));
        expect(learner.getMetaParams(state).lr.isDisposed).toBe(false);
        seen.push(step);
        if (step === 6) stop.abort();
      },
      signal: stop.signal,
    });
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(first).toMatchObject({ stopped: true, step: 7, resumedFrom: 0 });
    expect(deserializeCheckpoint(store.text!).outerIteration).toBe(7);
    disposeExcept(deserializeCheckpoint(store.text!).state);
    disposeExcept(first.state);
    let started: unknown;
    const resumed = await metaTrain({
      learner,
      seed: resumeTestConfig.seed,
      numSteps: 12,
      config: resumeTestConfig,
      store,
      onStart: (s) => {
        started = s;
      },
    });
    expect(started).toEqual({ resumedFrom: 7, resumed: true });
    expect(resumed).toMatchObject({ stopped: false, step: 12, resumedFrom: 7 });
    const straight = await metaTrain({ learner, seed: resumeTestConfig.seed, numSteps: 12, config: resumeTestConfig });
    expect(thetaBits(learner.getMetaParams(resumed.state))).toEqual(thetaBits(learner.getMetaParams(straight.state)));
    disposeExcept(resumed.state);
    disposeExcept(straight.state);
  });

  it('a failing outer step is an error naming the step, and frees the state', async () => {
    const learner = resumeTestLearner();
    const start = tf.memory().numTensors;
    const update = learner.update.bind(learner);
    let calls = 0;
    learner.update = (state, key) => {
      if (++calls === 3) throw new Error('the meta-gradient is NaN');
      return update(state, key);
    };
    await expect(metaTrain({ learner, seed: 1, numSteps: 5, config: resumeTestConfig })).rejects.toThrow(
      /metaTrain: outer step 2 failed: the meta-gradient is NaN/,
    );
    expect(tf.memory().numTensors).toBe(start);
  });

  it('writes files atomically', () => {
    const p = join(dir, 'atomic.json');
    writeFileSync(p, 'old');
    writeFileAtomic(p, 'new');
    expect(readFileSync(p, 'utf8')).toBe('new');
    expect(existsSync(`${p}.tmp-${process.pid}`)).toBe(false);
  });
});
