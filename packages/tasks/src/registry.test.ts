import { random, valueAndGrad } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import { BaseTask } from './base-task.js';
import { sampleTaskFamilyFromTaskFns, singleTaskToFamily } from './family.js';
import { QuadraticTask } from './quadratics.js';
import { getTask, listTasks, registerTask } from './registry.js';
import { testDataOptions } from './test-helpers.js';

const key = random.PRNGKey(0);

describe('registry', () => {
  test('lists every task by its reference name', () => {
    const names = listTasks();
    for (const n of [
      'ImageMLP_FashionMnist8_Relu32',
      'ImageMLP_FashionMnist16_Relu32',
      'ImageMLP_FashionMnist32_Relu32',
      'ImageMLP_FashionMnist_Relu128x128',
      'ImageMLP_Mnist_128x128x128_Relu',
      'ImageMLP_Cifar10_128x128x128_LayerNorm_Relu',
      'Conv_Cifar10_32x64x64',
      'Conv_FashionMnist_8_16x32',
      'QuadraticTask',
    ]) {
      expect(names).toContain(n);
    }
    expect(names).toEqual([...names].sort());
  });

  test('getTask builds a task, loading its data', async () => {
    const task = await getTask('ImageMLP_FashionMnist8_Relu32', testDataOptions());
    expect(task.name).toBe('ImageMLP_FashionMnist8_Relu32');
    const q = await getTask('QuadraticTask');
    expect(q).toBeInstanceOf(QuadraticTask);
  });

  test('an unknown name suggests the closest ones', async () => {
    await expect(getTask('ImageMLP_FashionMnist8_Relu33')).rejects.toThrow(
      /Unknown task 'ImageMLP_FashionMnist8_Relu33'\. Did you mean 'ImageMLP_FashionMnist8_Relu32'/,
    );
    await expect(getTask('quadratictask')).rejects.toThrow(/Did you mean 'QuadraticTask'/);
  });

  test('registerTask refuses a taken name unless asked to overwrite', () => {
    expect(() => registerTask('QuadraticTask', async () => new QuadraticTask())).toThrow(/already registered/);
    registerTask('QuadraticTask5', async () => new QuadraticTask(5));
    expect(listTasks()).toContain('QuadraticTask5');
  });
});

describe('family helpers', () => {
  test('singleTaskToFamily always gives the task; sample is 0', () => {
    const task = new QuadraticTask(3);
    const evalTask = new QuadraticTask(4);
    const fam = singleTaskToFamily(task, { name: 'quad', evalTask });
    expect(fam.sample(key)).toBe(0);
    expect(fam.sampleTask(key)).toBe(task);
    expect(fam.evalTaskFn(0)).toBe(evalTask);
    expect(fam.name).toBe('quad');
    expect(singleTaskToFamily(task).name).toBe('QuadraticTask');
    const { sampleTask } = fam;
    expect(sampleTask(key)).toBe(task);
  });

  test('sampleTaskFamilyFromTaskFns picks deterministically per key', async () => {
    const names = ['QuadraticTask', 'LogQuadraticTask', 'SumQuadraticTask'];
    const picks = await Promise.all(
      Array.from({ length: 12 }, (_, i) => sampleTaskFamilyFromTaskFns(random.PRNGKey(i), names)),
    );
    const again = await Promise.all(
      Array.from({ length: 12 }, (_, i) => sampleTaskFamilyFromTaskFns(random.PRNGKey(i), names)),
    );
    expect(picks.map((f) => f.name)).toEqual(again.map((f) => f.name));
    expect(new Set(picks.map((f) => f.name)).size).toBeGreaterThan(1);
    await expect(sampleTaskFamilyFromTaskFns(key, [])).rejects.toThrow(/empty/);
  });
});

describe('BaseTask', () => {
  class Line extends BaseTask<tf.Tensor, undefined> {
    init(k: typeof key) {
      return random.normal(k, [2]);
    }
    loss(p: tf.Tensor) {
      return tf.sum(tf.mul(p, tf.tensor1d([1, 2]))) as tf.Scalar;
    }
  }

  test('the defaults follow the reference and methods work unbound', () => {
    const t = new Line();
    expect(t.name).toBe('Line');
    const { initWithState, lossWithState, lossWithStateAndAux, lossAndAux, normalizer } = t;
    const [p, s] = initWithState(key);
    expect(s).toBeUndefined();
    const [l, s2] = lossWithState(p, s, key, undefined);
    expect(s2).toBeUndefined();
    const [l2, , aux] = lossWithStateAndAux(p, undefined as never, key, undefined);
    expect(l2.dataSync()[0]).toBeCloseTo(l.dataSync()[0]!, 6);
    expect(aux).toEqual({});
    expect(lossAndAux(p, key, undefined)[1]).toEqual({});
    expect(normalizer(tf.scalar(3)).dataSync()[0]).toBe(3);
    expect(() => lossWithState(p, { some: 'state' } as never, key, undefined)).toThrow(/has no model state/);
    const [, g] = valueAndGrad(t.loss)(p);
    expect(Array.from(g.dataSync())).toEqual([1, 2]);
  });
});
