// Celo2 with its published theta, untuned, against Adam on real data: the comparisons of
// the Celo2 weights' README (measured there with PyLO's PyTorch Celo2_naive). They take
// about 8 (MLP) and 6 (conv) minutes of one core on wasm, so they run only when
// LOPT_CELO2_QUALITY=1 is set (CI's wasm leg, scripts/test.sh), and never on cpu, where
// the same arithmetic is covered by celo2.test.ts's fixtures.

import type { Optimizer } from '@lopt/optimizers';
import { treeDispose } from '@lopt/pytree';
import { conv } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { Celo2 } from './celo2.js';
import { adam, DATA, fmt, mean, trainThenTest } from './celo2-quality.js';
import { celo2Theta } from './celo2-theta.js';

describe.skipIf(tf.getBackend() === 'cpu' || process.env.LOPT_CELO2_QUALITY !== '1')(
  'Celo2 (published theta, default learning rate) on real data',
  () => {
    it('small conv net (3 stride-2 3x3 convs 16-32-32 + dense) on MNIST, 400 steps, 2 seeds: beats Adam 1e-3', async () => {
      const task = await conv.Conv_Mnist_16x32x32_Stride2(DATA);
      const theta = celo2Theta();
      const seeds = [0, 1];
      const run = (opt: () => Optimizer) => seeds.map((s) => trainThenTest(task, opt(), s, 400, 2000));
      const celo2 = run(() => new Celo2().optFn(theta));
      const adam3 = run(() => adam(1e-3));
      const adam2 = run(() => adam(1e-2));
      console.log(
        [
          'MNIST conv net, test loss (first 2000 images) after 400 steps, seeds 0, 1:',
          `  Adam 1e-3: ${fmt(adam3)}`,
          `  Adam 1e-2: ${fmt(adam2)}`,
          `  Celo2 1e-3: ${fmt(celo2)}`,
        ].join('\n'),
      );
      expect(mean(celo2)).toBeLessThan(mean(adam3));
      treeDispose(theta);
    }, 3_600_000);
  },
);
