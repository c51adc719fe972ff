import { setupBackend } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, test } from 'vitest';
import { Adam, AdamW, type Optimizer } from './index.js';

// Adam on the cpu backend once threw on any non-scalar leaf (a fused kernel built its
// outputs with wasm's calling convention). Each backend installed in Node runs the
// Adam family here against a float64 reference, whichever backend the suite runs on.

const start = tf.getBackend();
afterAll(async () => {
  await setupBackend(start);
});

/** Adam with decoupled decay in float64: `steps` updates from `p0` with gradients `g(i)`. */
function adamReference(
  p0: number[],
  g: (i: number) => number[],
  steps: number,
  o: { lr: number; b1: number; b2: number; eps: number; epsRoot: number; wd: number },
): number[] {
  const p = p0.slice();
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  for (let t = 1; t <= steps; t++) {
    const gi = g(t - 1);
    for (let j = 0; j < p.length; j++) {
      m[j] = o.b1 * m[j]! + (1 - o.b1) * gi[j]!;
      v[j] = o.b2 * v[j]! + (1 - o.b2) * gi[j]! ** 2;
      const mHat = m[j]! / (1 - o.b1 ** t);
      const vHat = v[j]! / (1 - o.b2 ** t);
      p[j] = p[j]! - o.lr * (mHat / (Math.sqrt(vHat + o.epsRoot) + o.eps) + o.wd * p[j]!);
    }
  }
  return p;
}

const P0 = [0.5, -1.25, 2, 0.75, -0.3, 1.1, 0.2];
const grad = (i: number) => P0.map((x, j) => Math.sin(3 * x + i + j));

function run(opt: Optimizer, steps: number): number[] {
  let state = opt.init({ x: tf.tensor1d(P0), y: tf.tensor2d(P0.slice(0, 6), [2, 3]) });
  for (let i = 0; i < steps; i++) {
    const g = grad(i);
    const next = opt.update(state, { x: tf.tensor1d(g), y: tf.tensor2d(g.slice(0, 6), [2, 3]) });
    state = next;
  }
  const params = opt.getParams(state) as { x: tf.Tensor; y: tf.Tensor };
  expect(Array.from(params.y.dataSync())).toEqual(Array.from(params.x.dataSync()).slice(0, 6));
  return Array.from(params.x.dataSync());
}

describe.each(['cpu', 'wasm'])('the Adam family on the %s backend', (backend) => {
  test('Adam on non-scalar leaves matches float64', async () => {
    await setupBackend(backend);
    const got = tf.tidy(() => run(new Adam(0.01), 5));
    const want = adamReference(P0, grad, 5, { lr: 0.01, b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 1e-8, wd: 0 });
    got.forEach((x, j) => expect(x).toBeCloseTo(want[j]!, 6));
  });

  test('AdamW on non-scalar leaves matches float64', async () => {
    await setupBackend(backend);
    const got = tf.tidy(() => run(new AdamW(0.01, { weightDecay: 0.1 }), 5));
    const want = adamReference(P0, grad, 5, { lr: 0.01, b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0, wd: 0.1 });
    got.forEach((x, j) => expect(x).toBeCloseTo(want[j]!, 6));
  });
});
