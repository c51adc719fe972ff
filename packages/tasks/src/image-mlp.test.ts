import { random, treeMap, valueAndGrad } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import type { ImageMLPTask } from './image-mlp-task.js';
import { imageMlp } from './index.js';
import type { MLPParams } from './mlp.js';
import { testDataOptions } from './test-helpers.js';

let task: ImageMLPTask;
beforeAll(async () => {
  task = await imageMlp.ImageMLP_FashionMnist8_Relu32(testDataOptions());
});

describe('ImageMLP_FashionMnist8_Relu32', () => {
  test('parameters are named and shaped as the reference', () => {
    const params = task.init(random.PRNGKey(0));
    expect(treeMap((x) => x.shape, params)).toEqual({
      'mlp/~/linear_0': { w: [64, 32], b: [32] },
      'mlp/~/linear_1': { w: [32, 10], b: [10] },
    });
    // Haiku init: zero biases, truncated normal weights in [-2, 2] / sqrt(fan_in), std ~ 0.88 / sqrt(fan_in).
    const w0 = Array.from(params['mlp/~/linear_0']!.w!.dataSync());
    const b0 = Array.from(params['mlp/~/linear_0']!.b!.dataSync());
    expect(Math.max(...b0.map(Math.abs))).toBe(0);
    expect(Math.max(...w0.map(Math.abs))).toBeLessThanOrEqual(2 / 8 + 1e-6);
    const std = Math.sqrt(w0.reduce((s, x) => s + x * x, 0) / w0.length);
    expect(std).toBeGreaterThan(0.88 / 8 - 0.02);
    expect(std).toBeLessThan(0.88 / 8 + 0.02);
    // Same key, same parameters; another key, others.
    const again = task.init(random.PRNGKey(0));
    expect(Array.from(again['mlp/~/linear_1']!.w.dataSync())).toEqual(
      Array.from(params['mlp/~/linear_1']!.w.dataSync()),
    );
    const other = task.init(random.PRNGKey(1));
    expect(other['mlp/~/linear_1']!.w.dataSync()[0]).not.toBe(params['mlp/~/linear_1']!.w.dataSync()[0]);
    tf.dispose([params, again, other]);
  });

  test('the seed walkthrough: batch, initial loss ~ ln 10, valueAndGrad(task.loss) mirrors params', () => {
    const key = random.PRNGKey(0);
    const params = task.init(key);
    const batch = task.datasets!.train.next().value;
    expect(treeMap((x) => [x.shape, x.dtype], batch)).toEqual({
      image: [[128, 8, 8, 1], 'float32'],
      label: [[128], 'int32'],
    });
    const key1 = random.split(key)[1]!;
    const loss = task.loss(params, key1, batch);
    expect(loss.shape).toEqual([]);
    expect(Math.abs(loss.dataSync()[0]! - Math.log(10))).toBeLessThan(0.25);
    const [lossValue, grad] = valueAndGrad(task.loss)(params, key1, batch);
    expect(lossValue.dataSync()[0]).toBeCloseTo(loss.dataSync()[0]!, 6);
    expect(treeMap((x) => x.shape, grad)).toEqual(treeMap((x) => x.shape, params));
    tf.dispose([params, batch, loss, lossValue, grad]);
  });

  test('the seed SGD loop takes the test loss from ~2.3 to below 0.8, leak-free', () => {
    const before = tf.memory().numTensors;
    const gradFn = valueAndGrad(task.loss);
    let key = random.PRNGKey(0);
    let key1: ReturnType<typeof random.PRNGKey>;
    let params: MLPParams = task.init(key);
    const lr = 0.1;
    const testLosses: number[] = [];
    for (let i = 0; i < 1000; i++) {
      [key, key1] = random.split(key) as [typeof key, typeof key];
      const { next, l } = tf.tidy(() => {
        const b = task.datasets!.train.next().value;
        const [l, grads] = gradFn(params, key1, b);
        return { next: treeMap((p, g) => tf.sub(p, tf.mul(lr, g)), params, grads) as MLPParams, l };
      });
      tf.dispose(params);
      params = next;
      if (i % 100 === 0 || i === 999) {
        const testL = tf.tidy(() => task.loss(params, key, task.datasets!.test.next().value));
        testLosses.push(testL.dataSync()[0]!);
        tf.dispose(testL);
      }
      tf.dispose(l);
    }
    // Average the test loss of the trained model over 10 test batches (1280 images).
    const final = tf.tidy(() => {
      let s = 0;
      for (let j = 0; j < 10; j++) s += task.loss(params, key, task.datasets!.test.next().value).dataSync()[0]!;
      return s / 10;
    });
    tf.dispose(params);
    expect(tf.memory().numTensors).toBe(before);
    console.log('test losses', testLosses.map((x) => x.toFixed(3)).join(' '), 'final', final.toFixed(3));
    expect(testLosses[0]).toBeGreaterThan(2.0);
    expect(testLosses[0]).toBeLessThan(2.6);
    expect(final).toBeLessThan(0.8);
  });
});
