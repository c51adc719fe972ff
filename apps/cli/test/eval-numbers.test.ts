import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Celo2, celo2Theta } from '@lopt/learned';
import { Adam } from '@lopt/optimizers';
import { type EvalResult, evaluateOptimizer, normalizedScore } from '@lopt/outer-trainers';
import { random, treeDispose } from '@lopt/pytree';
import { getTask } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, expectOneLineError, lopt, pngSize, svgSize, tmp } from './helpers';

beforeAll(() => ensureBuilt());

interface Row {
  optimizer: string;
  finalTrainLoss: number;
  finalTrainLossStd: number;
  finalTestLoss: number;
  finalTestLossStd: number;
  score?: Record<string, number>;
  role?: string;
}

describe('eval: the table holds what evaluateOptimizer returns', () => {
  it('Celo2 against an Adam grid on 8x8 Fashion-MNIST, 2 seeds: every number of eval.json, the scores and the best rate', async () => {
    const out = tmp();
    const r = lopt(
      'eval',
      '--lopt',
      'Celo2',
      '--task',
      'ImageMLP_FashionMnist8_Relu32',
      '--steps',
      '20',
      '--seeds',
      '2',
      '--adam-grid',
      '0.003,0.03',
      '--out',
      out,
    );
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8')) as {
      seeds: number[];
      rows: Row[];
      bestAdamLearningRate: number;
      adamGrid: number[];
    };
    expect(doc.seeds).toEqual([0, 1]);
    // Adam at --adam-lr (1e-3) joins the grid.
    expect(doc.rows.map((x) => x.optimizer)).toEqual([
      'Celo2 (published theta)',
      'Adam(0.001)',
      'Adam(0.003)',
      'Adam(0.03)',
    ]);

    // The same evaluation in this process: the task as the command builds it (data key from --seed 0).
    const before = tf.memory().numTensors;
    const task = await getTask('ImageMLP_FashionMnist8_Relu32', {
      cacheRoot: process.env.LOPT_DATA_DIR,
      key: random.PRNGKey(0),
    });
    const opts = { seeds: [0, 1], numSteps: 20, evalEvery: 10, splits: ['train', 'test'] };
    const theta = celo2Theta();
    const mine: EvalResult[] = [];
    try {
      mine.push(await evaluateOptimizer(task, new Celo2().optFn(theta), opts));
    } finally {
      treeDispose(theta);
    }
    for (const lr of [0.001, 0.003, 0.03]) mine.push(await evaluateOptimizer(task, new Adam(lr), opts));
    expect(tf.memory().numTensors).toBe(before);

    const best = mine.slice(1).reduce((a, b) => (b.finalLoss.train!.mean < a.finalLoss.train!.mean ? b : a));
    expect(doc.bestAdamLearningRate).toBe([0.001, 0.003, 0.03][mine.slice(1).indexOf(best)]);
    doc.rows.forEach((row, i) => {
      const m = mine[i]!;
      expect(row.finalTrainLoss, row.optimizer).toBe(m.finalLoss.train!.mean);
      expect(row.finalTrainLossStd).toBe(m.finalLoss.train!.std);
      expect(row.finalTestLoss).toBe(m.finalLoss.test!.mean);
      expect(row.finalTestLossStd).toBe(m.finalLoss.test!.std);
      for (const s of ['train', 'test'])
        expect(row.score![s]).toBe(
          normalizedScore(m.finalLoss[s]!.mean, m.initialLoss[s]!.mean, best.finalLoss[s]!.mean),
        );
    });
    // Training happened: the best Adam ends well below the initial ln(10) = 2.30.
    expect(best.finalLoss.test!.mean).toBeLessThan(1.6);

    // The printed table and eval.md show the candidate, Adam at 1e-3 and the best of the grid.
    const bestRow = doc.rows.find((x) => x.score!.train === 1)!;
    const md = readFileSync(join(out, 'eval.md'), 'utf8');
    for (const text of [r.stdout, md]) {
      expect(text).toContain('Celo2 (published theta)');
      expect(text).toContain(`best of Adam grid: ${bestRow.optimizer}`);
      expect(text).toContain('train score');
    }
    expect(md).toMatch(
      /^\| optimizer \| final train loss \| final test loss \| best test loss \| train score \| test score \|/m,
    );
    const celo = doc.rows[0]!;
    expect(md).toContain(
      `| Celo2 (published theta) | ${celo.finalTrainLoss.toPrecision(4)} ± ${celo.finalTrainLossStd.toPrecision(4)} |`,
    );
    for (const f of ['eval-loss', 'eval-test']) {
      const svg = svgSize(join(out, `${f}.svg`));
      expect(pngSize(join(out, `${f}.png`))).toEqual({ width: svg.width, height: svg.height });
      expect(svg.text).toContain('Adam(0.03)');
    }
    expect(r.stdout).toContain(
      'wrote eval.json, eval.md, eval-loss.svg, eval-loss.png, eval-test.svg and eval-test.png',
    );
  });

  it('refuses a bad --adam-grid and --seeds', () => {
    const base = ['eval', '--lopt', 'Celo2', '--task', 'QuadraticTask', '--steps', '3', '--out', tmp()];
    expect(expectOneLineError(lopt(...base, '--adam-grid', '0.01,abc'))).toMatch(/'abc' is not a positive number/);
    expect(expectOneLineError(lopt(...base, '--adam-grid', '0.01,-1'))).toMatch(/'-1' is not a positive number/);
    expect(expectOneLineError(lopt(...base, '--seeds', '0'))).toMatch(/'0' is not a positive integer/);
  });
});
