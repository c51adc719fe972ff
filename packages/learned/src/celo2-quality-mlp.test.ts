// Celo2 with its published theta, untuned, against Adam on real data: the comparisons of
// the Celo2 weights' README (measured there with PyLO's PyTorch Celo2_naive). They take
// about 8 (MLP) and 6 (conv) minutes of one core on wasm, so they run only when
// LOPT_CELO2_QUALITY=1 is set (CI's wasm leg, scripts/test.sh), and never on cpu, where
// the same arithmetic is covered by celo2.test.ts's fixtures.

import type { Optimizer } from '@lopt/optimizers';
import { treeDispose } from '@lopt/pytree';
import { imageMlp } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { Celo2 } from './celo2.js';
import { adam, DATA, fmt, mean, trainThenTest } from './celo2-quality.js';
import { celo2Theta } from './celo2-theta.js';

describe.skipIf(tf.getBackend() === 'cpu' || process.env.LOPT_CELO2_QUALITY !== '1')(
  'Celo2 (published theta, default learning rate) on real data',
  () => {
    it('784-128-128-128-10 ReLU MLP on 28x28 Fashion-MNIST, 600 steps, 3 seeds: within 5% of the best Adam', async () => {
      const task = await imageMlp.ImageMLP_FashionMnist_128x128x128_Relu(DATA);
      const theta = celo2Theta();
      const seeds = [0, 1, 2];
      const run = (opt: () => Optimizer) => seeds.map((s) => trainThenTest(task, opt(), s, 600, 10000));
      const celo2 = run(() => new Celo2().optFn(theta));
      const adams = [3e-4, 1e-3, 3e-3].map((lr) => ({ lr, losses: run(() => adam(lr)) }));
      const best = adams.reduce((a, b) => (mean(b.losses) < mean(a.losses) ? b : a));
      console.log(
        [
          'Fashion-MNIST MLP, test loss (10000 images) after 600 steps, seeds 0, 1, 2:',
          ...adams.map((a) => `  Adam ${a.lr}: ${fmt(a.losses)}`),
          `  Celo2 1e-3: ${fmt(celo2)}`,
          `  Celo2 / best Adam (${best.lr}): ${(mean(celo2) / mean(best.losses)).toFixed(3)}`,
        ].join('\n'),
      );
      expect(mean(celo2)).toBeLessThanOrEqual(1.05 * mean(best.losses));
      treeDispose(theta);
    }, 3_600_000);
  },
);
