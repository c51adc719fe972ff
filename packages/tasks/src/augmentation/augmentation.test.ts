import { grad, random, valueAndGrad } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import { singleTaskToFamily } from '../family.js';
import {
  AugmentedTaskFamily,
  applyAugmentation,
  parseAugmentationSpec,
  sampleAugmentation,
} from './augmented-family.js';
import { ReducedBatchsize } from './reduced-batchsize.js';
import { ReparamWeights } from './reparam-weights.js';
import { ScaleGradient, ScaleLoss } from './scale-loss.js';
import { type DiagParams, DiagQuadratic } from './test-quadratic.js';

const key = random.PRNGKey(0);
const arr = (t: tf.Tensor) => Array.from(t.dataSync());
// The first value of a tensor, which is then freed.
const num = (t: tf.Tensor) => {
  const v = t.dataSync()[0]!;
  t.dispose();
  return v;
};
const C = DiagQuadratic.c;
const D = DiagQuadratic.d;

// Loss of the quadratic at (a, b) without data, in float64.
const f64 = (a: number[], b: number[]) =>
  0.5 * a.reduce((s, x, i) => s + C[i]! * x * x, 0) + b.reduce((s, x, i) => s + D[i]! * x, 0);

function params(a: number[], b: number[]): DiagParams {
  return { a: tf.tensor1d(a), b: tf.tensor1d(b) };
}

describe('ReparamWeights', () => {
  test("global scale: init divided, loss of w*s, gradient s * f'(s w), Hessian s^2 c", () => {
    const start = tf.memory().numTensors;
    const s = 4;
    const task = new ReparamWeights(new DiagQuadratic(), s);
    const p0 = task.init(key);
    expect(arr(p0.a)).toEqual([0.25, 0.5, 0.75]);
    expect(arr(p0.b)).toEqual([-0.25, 0.125]);
    const a = [0.5, -1, 2];
    const b = [3, -2];
    const w = params(a, b);
    const [l, g] = valueAndGrad(task.loss)(w, key, undefined);
    // Loss at the inner parameters s * w.
    expect(l.dataSync()[0]).toBeCloseTo(
      f64(
        a.map((x) => s * x),
        b.map((x) => s * x),
      ),
      3,
    );
    // d/da 0.5 c (s a)^2 = s^2 c a; d/db d (s b) = s d.
    expect(arr(g.a)).toEqual(a.map((x, i) => s * s * C[i]! * x));
    expect(arr(g.b)).toEqual(D.map((x) => s * x));
    // Second derivative: grad of the gradient's first entry of a is s^2 c_0.
    const h = grad(
      (p: DiagParams) => tf.sum(tf.mul(grad(task.loss)(p, key, undefined).a, tf.tensor1d([1, 0, 0]))) as tf.Scalar,
    )(w);
    expect(arr(h.a)).toEqual([s * s * C[0]!, 0, 0]);
    // The function is the same: the loss at the initial parameters is the inner task's.
    expect(num(task.loss(p0, key, undefined))).toBeCloseTo(f64([1, 2, 3], [-1, 0.5]), 4);
    tf.dispose([p0, w, l, g, h]);
    expect(tf.memory().numTensors).toBe(start);
  });

  test('per-tensor scales follow treeFlatten order (a, then b)', () => {
    const task = new ReparamWeights(new DiagQuadratic(), [2, 10]);
    const w = params([1, 1, 1], [1, 1]);
    const g = grad(task.loss)(w, key, undefined);
    expect(arr(g.a)).toEqual(C.map((c) => 4 * c));
    expect(arr(g.b)).toEqual(D.map((d) => 10 * d));
    expect(() => new ReparamWeights(new DiagQuadratic(), [1, 2, 3]).loss(w, key, undefined)).toThrow(
      /3 param scales given for 2 parameter tensors/,
    );
    expect(() => new ReparamWeights(new DiagQuadratic(), 0)).toThrow(/positive finite/);
    tf.dispose([w, g]);
  });

  test('per-element scales: gradient s_i^2 c_i a_i with s drawn log-uniformly from the key', () => {
    const range: [number, number] = [0.1, 10];
    const task = new ReparamWeights(new DiagQuadratic(), { key: random.PRNGKey(3), range });
    // The scales, as the wrapper draws them: one key per tensor split off the key.
    const keys = random.split(random.PRNGKey(3), 2);
    const sa = arr(tf.exp(random.uniform(keys[0]!, [3], Math.log(0.1), Math.log(10))));
    const sb = arr(tf.exp(random.uniform(keys[1]!, [2], Math.log(0.1), Math.log(10))));
    for (const s of [...sa, ...sb]) expect(s >= 0.1 && s < 10).toBe(true);
    expect(new Set(sa).size).toBe(3);
    const a = [0.5, -1, 2];
    const w = params(a, [1, 1]);
    const g = grad(task.loss)(w, key, undefined);
    arr(g.a).forEach((v, i) => expect(v).toBeCloseTo(sa[i]! ** 2 * C[i]! * a[i]!, 3));
    arr(g.b).forEach((v, i) => expect(v).toBeCloseTo(sb[i]! * D[i]!, 4));
    const p0 = task.init(key);
    arr(p0.a).forEach((v, i) => expect(v).toBeCloseTo((i + 1) / sa[i]!, 4));
    tf.dispose([w, g, p0]);
  });
});

describe('ScaleLoss and ScaleGradient', () => {
  test('ScaleLoss: loss and gradient times s; the normaliser divides s out', () => {
    const task = new ScaleLoss(new DiagQuadratic(), 0.01);
    const a = [0.5, -1, 2];
    const w = params(a, [3, -2]);
    const [l, g] = valueAndGrad(task.loss)(w, key, undefined);
    expect(l.dataSync()[0]).toBeCloseTo(0.01 * f64(a, [3, -2]), 5);
    arr(g.a).forEach((v, i) => expect(v).toBeCloseTo(0.01 * C[i]! * a[i]!, 6));
    // Inner normaliser is 10 * loss: the scaled loss maps back to 10 * the inner loss.
    expect(num(task.normalizer(l))).toBeCloseTo(10 * f64(a, [3, -2]), 3);
    tf.dispose([w, l, g]);
  });

  test('ScaleGradient: the same loss value, gradient and Hessian times s', () => {
    const start = tf.memory().numTensors;
    const inner = new DiagQuadratic();
    const task = new ScaleGradient(inner, 7);
    const a = [0.5, -1, 2];
    const w = params(a, [3, -2]);
    const [l, g] = valueAndGrad(task.loss)(w, key, undefined);
    const l0 = inner.loss(w, key, undefined);
    expect(l.dataSync()[0]).toBe(l0.dataSync()[0]);
    expect(arr(g.a)).toEqual(a.map((x, i) => 7 * C[i]! * x));
    expect(arr(g.b)).toEqual(D.map((d) => 7 * d));
    const h = grad(
      (p: DiagParams) => tf.sum(tf.mul(grad(task.loss)(p, key, undefined).a, tf.tensor1d([0, 1, 0]))) as tf.Scalar,
    )(w);
    expect(arr(h.a)).toEqual([0, 7 * C[1]!, 0]);
    expect(num(task.normalizer(l))).toBe(num(inner.normalizer(l0)));
    tf.dispose([w, l, g, l0, h]);
    expect(tf.memory().numTensors).toBe(start);
  });
});

describe('ReducedBatchsize', () => {
  test('the wrapped task sees the first floor(B * fraction) examples', () => {
    const task = new ReducedBatchsize(new DiagQuadratic(), 0.5);
    const x = tf.tensor1d([1, 2, 3, 100, 200]);
    const w = params([1, 1, 1], [0, 0]);
    // floor(5 * 0.5) = 2 examples: mean(x) = 1.5.
    expect(task.reducedSize(5)).toBe(2);
    expect(num(task.loss(w, key, x))).toBeCloseTo(f64([1, 1, 1], [0, 0]) + 1.5 * 3, 4);
    const g = grad(task.loss)(w, key, x);
    expect(arr(g.a)).toEqual(C.map((c) => c + 1.5));
    expect(new ReducedBatchsize(new DiagQuadratic(), 0.01).reducedSize(5)).toBe(1);
    expect(() => new ReducedBatchsize(new DiagQuadratic(), 1.5)).toThrow(/fraction must be in \(0, 1\]/);
    tf.dispose([x, w, g]);
  });
});

describe('AugmentedTaskFamily', () => {
  const family = singleTaskToFamily(new DiagQuadratic());

  test('the same key gives the same config; kinds follow the weights', () => {
    const aug = new AugmentedTaskFamily(family, [
      { kind: 'none', weight: 2 },
      { kind: 'reparamWeights', level: 'global', range: [0.01, 100] },
      { kind: 'scaleGradient', range: [0.5, 2] },
    ]);
    expect(aug.sample(random.PRNGKey(5))).toEqual(aug.sample(random.PRNGKey(5)));
    const cfgs = Array.from({ length: 400 }, (_, i) => aug.sample(random.PRNGKey(i)));
    const count = (k: string) => cfgs.filter((c) => c.augmentation.kind === k).length;
    // Expected 200, 100, 100; four standard deviations either side.
    expect(Math.abs(count('none') - 200)).toBeLessThan(40);
    expect(Math.abs(count('reparamWeights') - 100)).toBeLessThan(35);
    expect(Math.abs(count('scaleGradient') - 100)).toBeLessThan(35);
    for (const c of cfgs) {
      const a = c.augmentation;
      if (a.kind === 'reparamWeights' && a.level === 'global')
        expect(a.paramScale >= 0.01 && a.paramScale < 100).toBe(true);
      if (a.kind === 'scaleGradient') expect(a.scale >= 0.5 && a.scale < 2).toBe(true);
    }
    expect(JSON.parse(JSON.stringify(cfgs[0]))).toEqual(cfgs[0]);
  });

  test('taskFn applies the drawn augmentation (checked against the closed form)', () => {
    const aug = new AugmentedTaskFamily(family, [{ kind: 'reparamWeights', level: 'tensor', range: [0.5, 3] }]);
    const cfg = aug.sample(random.PRNGKey(11));
    const task = aug.taskFn(cfg) as ReparamWeights<DiagParams>;
    expect(task).toBeInstanceOf(ReparamWeights);
    const scales = task.paramScale as number[];
    expect(scales).toHaveLength(2);
    const w = params([1, 1, 1], [1, 1]);
    const g = grad(task.loss)(w, key, undefined);
    arr(g.a).forEach((v, i) => expect(v).toBeCloseTo(scales[0]! ** 2 * C[i]!, 4));
    arr(g.b).forEach((v, i) => expect(v).toBeCloseTo(scales[1]! * D[i]!, 5));
    tf.dispose([w, g]);
  });

  test('specs are checked: unknown keys, kinds and bad ranges name the problem', () => {
    expect(() => parseAugmentationSpec({ kind: 'scaleLoss', rnage: [1, 2] })).toThrow(
      /unknown option 'rnage' \(did you mean 'range'\?\)/,
    );
    expect(() => parseAugmentationSpec({ kind: 'reparamWeight' })).toThrow(/did you mean 'reparamWeights'/);
    expect(() => parseAugmentationSpec({ kind: 'scaleLoss', range: [2, 1] })).toThrow(/min <= max/);
    expect(() => parseAugmentationSpec({ kind: 'reducedBatchsize', range: [0.5, 2] })).toThrow(/at most 1/);
    expect(() => parseAugmentationSpec({ kind: 'scaleLoss', level: 'tensor' })).toThrow(/only 'reparamWeights'/);
    expect(() => new AugmentedTaskFamily(family, [])).toThrow(/at least one augmentation/);
    expect(sampleAugmentation({ kind: 'reducedBatchsize', range: [0.25, 0.25] }, key)).toEqual({
      kind: 'reducedBatchsize',
      fraction: 0.25,
    });
    expect(applyAugmentation(new DiagQuadratic(), { kind: 'none' })).toBeInstanceOf(DiagQuadratic);
  });
});
