import type { Batch } from '@lopt/datasets';
import { type PRNGKey, random, treeMap } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { batchedLoss, stackParams } from './batched.js';
import * as conv from './conv.js';
import { type ConvParams, ConvTask } from './conv-task.js';
import type { ImageTaskFactory } from './image-mlp.js';
import { finiteDifferenceError, testDataOptions } from './test-helpers.js';

const key = random.PRNGKey(0);
const factories = conv as unknown as Record<string, ImageTaskFactory<ConvTask>>;
const LOCAL = [
  ['Conv_FashionMnist_8_16x32', 8, [16, 32]],
  ['Conv_FashionMnist_16_32x64x64', 16, [32, 64, 64]],
  ['Conv_FashionMnist_32x64x64', 28, [32, 64, 64]],
  ['Conv_Mnist_8_16x32', 8, [16, 32]],
  ['Conv_Mnist_16_32x64x64', 16, [32, 64, 64]],
  ['Conv_Mnist_32x64x64', 28, [32, 64, 64]],
] as const;

const tasks: Record<string, ConvTask> = {};
/** Small batches (16 images) keep the finite differences of the larger nets quick. */
const small: Record<string, Batch> = {};
beforeAll(async () => {
  for (const [name] of LOCAL) {
    tasks[name] = await factories[name]!({ ...testDataOptions(), batchSize: 16 });
    small[name] = tasks[name].datasets!.train.next().value;
  }
});

function expectedShapes(hidden: readonly number[]) {
  const out: Record<string, Record<string, number[]>> = {};
  let cin = 1;
  hidden.forEach((c, i) => {
    out[i === 0 ? 'conv2_d' : `conv2_d_${i}`] = { w: [3, 3, cin, c], b: [c] };
    cin = c;
  });
  out.linear = { w: [cin, 10], b: [10] };
  return out;
}

/** The conv net in float64: SAME 3x3 convs (stride 2 first unless `strides`), ReLU, spatial mean (or flatten), linear. */
function referenceLoss(
  params: ConvParams,
  batch: Batch,
  hidden: readonly number[],
  strides?: number[],
  flatten = false,
): number {
  const images = batch.image.arraySync() as number[][][][];
  const labels = batch.label.arraySync() as number[];
  let total = 0;
  images.forEach((img, n) => {
    let x = img; // [H][W][C]
    hidden.forEach((cout, l) => {
      const p = params[l === 0 ? 'conv2_d' : `conv2_d_${l}`]!;
      const w = p.w!.arraySync() as number[][][][];
      const b = p.b!.arraySync() as number[];
      const s = strides ? strides[l]! : l === 0 ? 2 : 1;
      const h = x.length;
      const wd = x[0]!.length;
      const oh = Math.ceil(h / s);
      const ow = Math.ceil(wd / s);
      // TF/XLA SAME: total padding max((o-1)s + k - i, 0), the smaller half before.
      const padT = Math.floor(Math.max((oh - 1) * s + 3 - h, 0) / 2);
      const padL = Math.floor(Math.max((ow - 1) * s + 3 - wd, 0) / 2);
      const y: number[][][] = [];
      for (let i = 0; i < oh; i++) {
        const row: number[][] = [];
        for (let j = 0; j < ow; j++) {
          const out = b.slice();
          for (let di = 0; di < 3; di++) {
            for (let dj = 0; dj < 3; dj++) {
              const ii = i * s + di - padT;
              const jj = j * s + dj - padL;
              if (ii < 0 || jj < 0 || ii >= h || jj >= wd) continue;
              const v = x[ii]![jj]!;
              for (let c = 0; c < v.length; c++) for (let o = 0; o < cout; o++) out[o]! += v[c]! * w[di]![dj]![c]![o]!;
            }
          }
          row.push(out.map((u) => Math.max(0, u)));
        }
        y.push(row);
      }
      x = y;
    });
    const c = x[0]![0]!.length;
    const pooled = flatten
      ? x.flat(2)
      : Array.from({ length: c }, (_, k) => x.flat().reduce((a, v) => a + v[k]!, 0) / (x.length * x[0]!.length));
    const lw = params.linear!.w!.arraySync() as number[][];
    const lb = params.linear!.b!.arraySync() as number[];
    const logits = lb.map((bb, o) => pooled.reduce((a, v, k) => a + v * lw[k]![o]!, bb));
    const m = Math.max(...logits);
    total += m + Math.log(logits.reduce((a, l) => a + Math.exp(l - m), 0)) - logits[labels[n]!]!;
  });
  return total / images.length;
}

describe('conv tasks on Fashion-MNIST and MNIST', () => {
  test.each(LOCAL)('%s: parameter names and shapes as Haiku, images of the stated size', (name, size, hidden) => {
    const task = tasks[name]!;
    const p = task.init(key);
    expect(treeMap((x) => x.shape, p)).toEqual(expectedShapes(hidden));
    expect(small[name]!.image.shape).toEqual([16, size, size, 1]);
    expect(task.name).toBe(name);
    tf.dispose(p);
  });

  test('the loss equals a float64 reference conv net (stride-2 SAME padding included)', () => {
    const task = tasks.Conv_FashionMnist_8_16x32!;
    const params = task.init(random.PRNGKey(4));
    params.conv2_d!.b = tf.linspace(-0.1, 0.1, 16);
    params.linear!.b = tf.linspace(0, 0.3, 10);
    const batch = small.Conv_FashionMnist_8_16x32!;
    const want = referenceLoss(params, batch, [16, 32]);
    expect(task.loss(params, key, batch).dataSync()[0]!).toBeCloseTo(want, 5);
    // A 16x16 net too: stride 2 on an even size pads only after.
    const t16 = tasks.Conv_Mnist_16_32x64x64!;
    const p16 = t16.init(random.PRNGKey(5));
    const b16 = {
      image: tf.slice(small.Conv_Mnist_16_32x64x64!.image, 0, 2),
      label: tf.slice(small.Conv_Mnist_16_32x64x64!.label, 0, 2),
    } as Batch;
    expect(t16.loss(p16, key, b16).dataSync()[0]!).toBeCloseTo(referenceLoss(p16, b16, [32, 64, 64]), 4);
  });

  test('Conv_Mnist_16x32x32_Stride2: three stride-2 convs and a linear layer on the flattened features, as a float64 reference', async () => {
    const task = await conv.Conv_Mnist_16x32x32_Stride2({ ...testDataOptions(), batchSize: 4 });
    const params = task.init(random.PRNGKey(6));
    expect(treeMap((x) => x.shape, params)).toEqual({
      conv2_d: { w: [3, 3, 1, 16], b: [16] },
      conv2_d_1: { w: [3, 3, 16, 32], b: [32] },
      conv2_d_2: { w: [3, 3, 32, 32], b: [32] },
      linear: { w: [4 * 4 * 32, 10], b: [10] },
    });
    params.conv2_d_1!.b = tf.linspace(-0.05, 0.05, 32);
    const batch = task.datasets!.train.next().value;
    expect(batch.image.shape).toEqual([4, 28, 28, 1]);
    const want = referenceLoss(params, batch, [16, 32, 32], [2, 2, 2], true);
    expect(task.loss(params, key, batch).dataSync()[0]!).toBeCloseTo(want, 4);
    const err = finiteDifferenceError((p) => task.loss(p, key, batch), params, 1, 1e-3);
    expect(err).toBeLessThan(1e-2);
    expect(() => new ConvTask(task.datasets!, { hiddenUnits: [4], strides: [2, 2] })).toThrow(
      /strides has 2 entries for 1 conv layers/,
    );
    tf.dispose([params, batch]);
  });

  // The four-layer nets take minutes per check on the cpu backend: they run in the test
  // legs with slow tests on (LOPT_SLOW_TESTS unset; see the README's backend matrix).
  const slowOff = process.env.LOPT_SLOW_TESTS === 'off';
  const fdCheck = (name: string) => {
    const task = tasks[name]!;
    const params = task.init(random.PRNGKey(3));
    const per = name.includes('_8_') ? 3 : 1;
    const err = finiteDifferenceError((p) => task.loss(p, key, small[name]!), params, per, 1e-3);
    expect(err).toBeLessThan(1e-2);
    tf.dispose(params);
  };
  const deep = (n: string) => n.includes('64x64');
  test.each(LOCAL.map(([n]) => n).filter((n) => !deep(n)))(
    '%s: gradient matches central finite differences on real data',
    fdCheck,
  );
  test.skipIf(slowOff).each(LOCAL.map(([n]) => n).filter(deep))(
    '%s: gradient matches central finite differences on real data',
    fdCheck,
  );

  test('normalizer clips to [0, 1.5 ln 10] and maps NaN to the maximum', () => {
    const max = 1.5 * Math.log(10);
    const v = Array.from(tasks.Conv_FashionMnist_8_16x32!.normalizer(tf.tensor1d([-2, 0.5, 9, Number.NaN])).dataSync());
    v.forEach((x, i) => expect(x).toBeCloseTo([0, 0.5, max, max][i]!, 5));
  });

  test('batched loss (a loop for conv nets) equals the single losses', () => {
    const task = tasks.Conv_FashionMnist_8_16x32!;
    const ks: PRNGKey[] = random.split(key, 2);
    const members = ks.map((k) => task.init(k));
    const got = Array.from(batchedLoss(task, stackParams(members), ks, small.Conv_FashionMnist_8_16x32!).dataSync());
    members.forEach((p, i) =>
      expect(got[i]!).toBeCloseTo(task.loss(p, ks[i]!, small.Conv_FashionMnist_8_16x32!).dataSync()[0]!, 5),
    );
    // One batch per member, stacked on a leading axis.
    const per = [small.Conv_FashionMnist_8_16x32!, task.datasets!.train.next().value];
    const stackedData = {
      image: tf.stack(per.map((b) => b.image)),
      label: tf.stack(per.map((b) => b.label)),
    } as unknown as Batch;
    const got2 = Array.from(
      batchedLoss(task, stackParams(members), ks, stackedData, { perMemberData: true }).dataSync(),
    );
    members.forEach((p, i) => expect(got2[i]!).toBeCloseTo(task.loss(p, ks[i]!, per[i]!).dataSync()[0]!, 5));
  });

  test('bad input: a batch of another size, parameters of another net', () => {
    const task = tasks.Conv_FashionMnist_8_16x32!;
    const params = task.init(key);
    expect(() => task.loss(params, key, small.Conv_FashionMnist_16_32x64x64!)).toThrow(
      /data\.image has shape \[16, 16, 16, 1\]/,
    );
    const other = tasks.Conv_FashionMnist_16_32x64x64!.init(key);
    expect(() => task.loss(other, key, small.Conv_FashionMnist_8_16x32!)).toThrow(/unexpected \[conv2_d_2\]/);
    const wide = { ...params, conv2_d: { w: tf.zeros([3, 3, 1, 32]), b: tf.zeros([32]) } };
    expect(() => task.loss(wide, key, small.Conv_FashionMnist_8_16x32!)).toThrow(
      /params\.conv2_d\.b has shape \[32\] but this task expects \[16\]/,
    );
  });
});
