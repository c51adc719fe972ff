import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { random, treeMap } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cifarDatasets, parseCifarBinary } from './cifar.js';
import * as conv from './conv.js';
import * as imageMlp from './image-mlp.js';
import { finiteDifferenceError } from './test-helpers.js';

const key = random.PRNGKey(0);
let root: string;
let dir10: string;
let dir100: string;

/** Pixel (channel c, row y, col x) of record i: a pattern the test can recompute. */
const pixel = (i: number, c: number, y: number, x: number) => (i * 7 + c * 50 + y * 3 + x * 5) % 256;

/** `n` records in the CIFAR binary layout, labels `label(i)`, `labelBytes` label bytes each. */
function records(n: number, first: number, labelBytes: 1 | 2, label: (i: number) => number): Uint8Array {
  const rec = labelBytes + 3072;
  const out = new Uint8Array(n * rec);
  for (let r = 0; r < n; r++) {
    const i = first + r;
    const off = r * rec;
    if (labelBytes === 2) out[off] = (label(i) + 7) % 20; // coarse label, ignored
    out[off + labelBytes - 1] = label(i);
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < 32; y++)
        for (let x = 0; x < 32; x++) out[off + labelBytes + c * 1024 + y * 32 + x] = pixel(i, c, y, x);
  }
  return out;
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'lopt-cifar-'));
  // CIFAR-10 as the official archive unpacks: <root>/cifar-10-batches-bin/*.bin, 20 train images per file.
  dir10 = join(root, 'cifar-10-batches-bin');
  mkdirSync(dir10);
  for (let f = 0; f < 5; f++)
    writeFileSync(
      join(dir10, `data_batch_${f + 1}.bin`),
      records(20, f * 20, 1, (i) => i % 10),
    );
  writeFileSync(
    join(dir10, 'test_batch.bin'),
    records(20, 1000, 1, (i) => (i * 3) % 10),
  );
  dir100 = join(root, 'c100');
  mkdirSync(dir100);
  writeFileSync(
    join(dir100, 'train.bin'),
    records(100, 0, 2, (i) => i % 100),
  );
  writeFileSync(
    join(dir100, 'test.bin'),
    records(20, 1000, 2, (i) => (i * 7) % 100),
  );
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('CIFAR binary reader', () => {
  test('CIFAR-10: splits, HWC float images in [0, 1], labels, from the parent folder', async () => {
    const ds = await cifarDatasets('cifar10', { dataDir: root, batchSize: 4 });
    expect(ds.splitSizes).toEqual({ train: 80, innerValid: 10, outerValid: 10, test: 20 });
    expect(ds.numClasses).toBe(10);
    const test0 = ds.arrays('test');
    expect(test0.labels[1]).toBe((1001 * 3) % 10);
    // Test image 1 (record 1001), pixel (y=2, x=5), green channel.
    expect(test0.images[1 * 3072 + (2 * 32 + 5) * 3 + 1]).toBeCloseTo(pixel(1001, 1, 2, 5) / 255, 6);
    expect(ds.arrays('innerValid').labels[0]).toBe(80 % 10);
    const b = ds.train.next().value;
    expect(b.image.shape).toEqual([4, 32, 32, 3]);
    expect(b.label.dtype).toBe('int32');
    // Keyed shuffles: the same key gives the same batches.
    const again = (await cifarDatasets('cifar10', { dataDir: dir10, batchSize: 4 })).train.next().value;
    expect(Array.from(again.label.dataSync())).toEqual(Array.from(b.label.dataSync()));
    tf.dispose([b, again]);
  });

  test('CIFAR-100 keeps the fine label; resizing and black-and-white', async () => {
    const ds = await cifarDatasets('cifar100', {
      dataDir: dir100,
      batchSize: 5,
      imageSize: [8, 8],
      blackAndWhite: true,
    });
    expect(ds.numClasses).toBe(100);
    expect(Array.from(ds.arrays('train').labels.subarray(0, 3))).toEqual([0, 1, 2]);
    expect(ds.elementSpec.image.shape).toEqual([5, 8, 8, 1]);
    const color = await cifarDatasets('cifar100', { dataDir: dir100, batchSize: 5, imageSize: [8, 8] });
    const c = color.arrays('train').images;
    const g = ds.arrays('train').images;
    expect(g[10]).toBeCloseTo((c[30]! + c[31]! + c[32]!) / 3, 6);
  });

  test('bad files are named: truncated, label out of range, missing, no dataDir', async () => {
    expect(() => parseCifarBinary(new Uint8Array(3072), 'cifar10', 'x.bin')).toThrow(
      /x\.bin: 3072 bytes is not a whole number of cifar10 records \(3073 bytes each\)/,
    );
    const bad = records(1, 0, 1, () => 12);
    expect(() => parseCifarBinary(bad, 'cifar10', 'y.bin')).toThrow(
      /y\.bin: record 0 has label 12, beyond the 10 classes/,
    );
    await expect(cifarDatasets('cifar10', { dataDir: dir100 })).rejects.toThrow(
      /cifar10: CIFAR files data_batch_1\.bin, data_batch_2\.bin, data_batch_3\.bin, data_batch_4\.bin, data_batch_5\.bin, test_batch\.bin not found in .*; unpack the official binary archive \(cifar-10-batches-bin\)/,
    );
    await expect(cifarDatasets('cifar10', {})).rejects.toThrow(/pass dataDir/);
  });
});

describe('CIFAR tasks on a synthetic file', () => {
  test('Conv_Cifar10_8_16x32: shapes, finite loss, gradient vs finite differences', async () => {
    const task = await conv.Conv_Cifar10_8_16x32({ dataDir: root, batchSize: 8 });
    const params = task.init(key);
    expect(treeMap((x) => x.shape, params)).toEqual({
      conv2_d: { w: [3, 3, 3, 16], b: [16] },
      conv2_d_1: { w: [3, 3, 16, 32], b: [32] },
      linear: { w: [32, 10], b: [10] },
    });
    const batch = task.datasets!.train.next().value;
    expect(batch.image.shape).toEqual([8, 8, 8, 3]);
    expect(finiteDifferenceError((p) => task.loss(p, key, batch), params, 2, 1e-3)).toBeLessThan(1e-2);
  });

  test('Conv_Cifar100_32x64x64 and the CIFAR MLPs build on the files', async () => {
    const c100 = await conv.Conv_Cifar100_32x64x64({ dataDir: dir100, batchSize: 4 });
    const p = c100.init(key);
    expect(p.linear!.w!.shape).toEqual([64, 100]);
    const l = c100.loss(p, key, c100.datasets!.test.next().value).dataSync()[0]!;
    expect(l).toBeGreaterThan(Math.log(100) - 1.5);
    expect(l).toBeLessThan(Math.log(100) + 1.5);
    const bw = await imageMlp.ImageMLP_Cifar10BW8_Relu32({ dataDir: root, batchSize: 4 });
    expect(bw.init(key)['mlp/~/linear_0']!.w!.shape).toEqual([64, 32]);
    const ln = await imageMlp.ImageMLP_Cifar10_128x128x128_LayerNorm_Relu({ dataDir: root, batchSize: 4 });
    const lp = ln.init(key);
    expect(Object.keys(lp).sort()).toEqual([
      'layer_norm',
      'layer_norm_1',
      'layer_norm_2',
      'linear',
      'linear_1',
      'linear_2',
      'linear_3',
    ]);
    expect(lp.linear!.w!.shape).toEqual([3072, 128]);
    const mse = await imageMlp.ImageMLP_Cifar10_128x128x128_Relu_MSE({ dataDir: root, batchSize: 4 });
    const ml = mse.loss(mse.init(key), key, mse.datasets!.train.next().value).dataSync()[0]!;
    expect(Number.isFinite(ml)).toBe(true);
  });
});
