import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import { fastPathsActive } from './fast-op.js';
import { type DenseLayer, type Mat, registerFusedKernel, runFusedKernel } from './fused.js';
import * as random from './random.js';

// A kernel whose body is one `ctx.mlp` call: its output must be the plain-op network's.
registerFusedKernel('LoptTestMlp', (ctx) => {
  const mat = (name: string): Mat => {
    const [rows, cols] = ctx.shape(name) as [number, number];
    return { data: ctx.input(name) as Float32Array, rows, cols };
  };
  const layers: DenseLayer[] = [0, 1, 2].map((l) => ({ w: mat(`w${l}`), b: ctx.input(`b${l}`) as Float32Array }));
  const y = ctx.mlp(mat('x'), layers);
  return [{ values: y.data, shape: [y.rows, y.cols] }];
});

describe('FusedContext.mlp', () => {
  // Runs where fused kernels are registered (cpu, wasm); elsewhere there is nothing to compare.
  test.skipIf(!fastPathsActive())('computes relu(relu(x w0 + b0) w1 + b1) w2 + b2 on the backend', () => {
    const k = random.split(random.PRNGKey(3), 7);
    const sizes = [5, 7, 6, 2];
    const inputs: Record<string, tf.Tensor> = { x: random.normal(k[0]!, [40, 5]) };
    for (let l = 0; l < 3; l++) {
      inputs[`w${l}`] = random.normal(k[1 + 2 * l]!, [sizes[l]!, sizes[l + 1]!]);
      inputs[`b${l}`] = random.normal(k[2 + 2 * l]!, [sizes[l + 1]!]);
    }
    const before = tf.memory().numTensors;
    const [got] = runFusedKernel('LoptTestMlp', inputs);
    expect(tf.memory().numTensors).toBe(before + 1);
    const want = tf.tidy(() => {
      let h = inputs.x!;
      for (let l = 0; l < 3; l++) {
        h = tf.add(tf.matMul(h, inputs[`w${l}`]!), inputs[`b${l}`]!);
        if (l < 2) h = tf.relu(h);
      }
      return h;
    });
    expect(got!.shape).toEqual([40, 2]);
    // Some hidden units are cut by the ReLUs, so both branches of the activation run.
    const a = got!.dataSync();
    const b = want.dataSync();
    b.forEach((v, i) => expect(Math.abs(a[i]! - v)).toBeLessThan(1e-5 * (1 + Math.abs(v))));
    tf.dispose([got!, want, ...Object.values(inputs)]);
  });
});
