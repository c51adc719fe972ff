import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adafacSmallFcV1Provenance } from '@lopt/learned';
import { random, valueAndGrad } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, expect, it } from 'vitest';
import { ADAM_GRID, IllConditionedQuadratic, runHeldOutEval } from './held-out-eval.js';

const out = mkdtempSync(join(tmpdir(), 'lopt-held-out-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));
const data = { cacheRoot: process.env.LOPT_DATA_DIR, download: false };
const tasks = ['quadratic-cond1e4', 'mlp-fmnist8-layernorm-tanh32'];

it('the ill-conditioned quadratic has the stated curvature: Hessian eigenvalues from 1e-4 to 1', () => {
  const q = new IllConditionedQuadratic(16);
  const w = q.init(random.PRNGKey(0));
  // The loss is quadratic: its Hessian is the Jacobian of the gradient, recovered column by column.
  const grad = valueAndGrad((p: tf.Tensor1D) => q.loss(p));
  const g0 = grad(w)[1] as tf.Tensor;
  const cols: number[][] = [];
  for (let i = 0; i < 16; i++) {
    const e = tf.cast(tf.oneHot(i, 16), 'float32') as tf.Tensor1D;
    const [l, g] = grad(tf.add(w, e) as tf.Tensor1D);
    cols.push(Array.from(tf.sub(g as tf.Tensor, g0).dataSync()));
    tf.dispose([e, l, g]);
  }
  // Trace and Frobenius norm of H = A^T A match the singular values 10^(-2 + 2i/15) squared.
  const s2 = Array.from({ length: 16 }, (_, i) => 10 ** (2 * (-2 + (2 * i) / 15)));
  const trace = cols.reduce((a, c, i) => a + c[i]!, 0);
  const frob = cols.flat().reduce((a, v) => a + v * v, 0);
  expect(trace).toBeCloseTo(
    s2.reduce((a, b) => a + b, 0),
    3,
  );
  expect(frob).toBeCloseTo(
    s2.reduce((a, b) => a + b * b, 0),
    3,
  );
  tf.dispose([w, g0]);
  q.dispose();
});

it('evaluates lopt, Celo2 and the Adam grid, writes results, table and plots, and resumes from saved cells (shortened)', async () => {
  const start = tf.memory().numTensors;
  const first = await runHeldOutEval({ outDir: out, tasks, seeds: [0], stepScale: 0.05, data, log: () => {} });
  expect(first.tasks.map((t) => t.id)).toEqual(tasks);
  expect(first.theta.thetaSha256).toBe(adafacSmallFcV1Provenance.thetaSha256);
  for (const t of first.tasks) {
    expect(t.rows.map((r) => r.optimizer)).toEqual([
      'lopt adafac-small-fc-v1',
      'Celo2',
      'Adam(0.001)',
      `best Adam: Adam(${t.bestAdamLearningRate})`,
    ]);
    // The best Adam made progress from the shared initial loss, and is the lowest of the grid.
    expect(t.rows[3]!.finalLoss[t.split]!).toBeLessThan(t.initialLoss);
    expect(Math.min(...Object.values(t.adamGrid))).toBe(t.rows[3]!.finalLoss[t.split]);
    expect(t.rows[3]!.score[t.split]).toBeCloseTo(1, 10);
    expect(t.beatsAdam1e3.lopt).toBe(t.rows[0]!.finalLoss[t.split]! < t.rows[2]!.finalLoss[t.split]!);
  }
  expect(first.tasks[0]!.split).toBe('train'); // the quadratic has no data
  expect(first.tasks[1]!.split).toBe('test');
  expect(first.markdown).toContain(`beats Adam(0.001) on ${first.wins.lopt} of 2 tasks`);
  expect(readFileSync(join(out, 'table.md'), 'utf8')).toBe(first.markdown);
  for (const t of tasks) expect(readFileSync(join(out, 'plots', `${t}.svg`), 'utf8')).toMatch(/^<svg[\s\S]*polyline/);
  expect(readdirSync(join(out, 'cells'))).toHaveLength(tasks.length * (2 + ADAM_GRID.length));
  expect(tf.memory().numTensors).toBe(start);

  // A second run finds every cell saved: nothing is trained again, and the results are the
  // same. With cachedOnly, a task with no saved runs is left out and named, its plot a note.
  const lines: string[] = [];
  const again = await runHeldOutEval({
    outDir: out,
    tasks: [...tasks, 'conv-mnist28'],
    seeds: [0],
    stepScale: 0.05,
    data,
    cachedOnly: true,
    log: (...a) => lines.push(a.join(' ')),
  });
  expect(lines.filter((l) => tasks.some((t) => l.startsWith(`${t} `)))).toEqual([]);
  expect(again.tasks).toEqual(first.tasks);
  expect(again.leftOut).toEqual(['Conv net 16-32-32 (3x3, stride 2), 28x28 MNIST, batch 32']);
  expect(again.markdown).toContain('Not in this table (their runs had not finished): Conv net');
  expect(readFileSync(join(out, 'plots', 'conv-mnist28.svg'), 'utf8')).toContain('not evaluated in this run');
  expect(existsSync(join(out, 'results.json'))).toBe(true);
  expect(tf.memory().numTensors).toBe(start);
}, 900_000);
