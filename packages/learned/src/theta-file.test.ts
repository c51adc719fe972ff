import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { random, treeDispose, treeLeaves } from '@lopt/pytree';
import type * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LearnableAdam } from './learnable-hparams.js';
import { MLPLOpt } from './mlp-lopt.js';
import { loadTheta, saveTheta } from './theta-file.js';

describe('saveTheta / loadTheta', () => {
  it('round-trips a theta exactly and leaves no temporary file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lopt-theta-'));
    const file = join(dir, 'mlp.theta.json');
    const lopt = new MLPLOpt({ hiddenSize: 8 });
    const theta = lopt.init(random.PRNGKey(3));
    await saveTheta(file, theta, lopt);
    expect(await readdir(dir)).toEqual(['mlp.theta.json']);
    const doc = JSON.parse(await readFile(file, 'utf8'));
    expect(doc.format).toBe('lopt-theta');
    expect(doc.learnedOptimizer).toBe('MLPLOpt');
    expect(doc.leaves.map((l: { path: string; shape: number[] }) => `${l.path}:${l.shape}`)).toEqual([
      '.mlp[0].b:8',
      '.mlp[0].w:19,8',
      '.mlp[1].b:8',
      '.mlp[1].w:8,8',
      '.mlp[2].b:2',
      '.mlp[2].w:8,2',
    ]);
    const back = await loadTheta(file, lopt);
    const a = treeLeaves(theta as never) as tf.Tensor[];
    const b = treeLeaves(back as never) as tf.Tensor[];
    a.forEach((x, i) => expect(Array.from(b[i]!.dataSync())).toEqual(Array.from(x.dataSync())));
    treeDispose(theta, back);
  });

  it('names both learned optimizers when the theta belongs to another', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lopt-theta-'));
    const file = join(dir, 'adam.json');
    const adam = new LearnableAdam();
    await saveTheta(file, adam.init(random.PRNGKey(0)), adam);
    await expect(loadTheta(file, new MLPLOpt())).rejects.toThrow(/'LearnableAdam'.*'MLPLOpt'/);
  });

  it('names the leaf and both shapes when shapes differ', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lopt-theta-'));
    const file = join(dir, 'mlp.json');
    const small = new MLPLOpt({ hiddenSize: 8 });
    await saveTheta(file, small.init(random.PRNGKey(0)), small);
    await expect(loadTheta(file, new MLPLOpt())).rejects.toThrow(/\.mlp\[0\]\.b has shape \[8\].*expects \[32\]/);
  });

  it('rejects missing, non-theta and corrupt files clearly', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lopt-theta-'));
    const lopt = new LearnableAdam();
    await expect(loadTheta(join(dir, 'none.json'), lopt)).rejects.toThrow(/cannot read/);
    await writeFile(join(dir, 'x.json'), '{"hello": 1}');
    await expect(loadTheta(join(dir, 'x.json'), lopt)).rejects.toThrow(/not a lopt theta file/);
    const file = join(dir, 'adam.json');
    await saveTheta(file, lopt.init(random.PRNGKey(0)), lopt);
    const doc = JSON.parse(await readFile(file, 'utf8'));
    doc.leaves[0].data = doc.leaves[0].data.slice(0, 4);
    await writeFile(file, JSON.stringify(doc));
    await expect(loadTheta(file, lopt)).rejects.toThrow(/corrupt/);
  });
});
