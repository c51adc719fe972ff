import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { random } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultCacheRoot } from './cache-dir.js';
import type { DatasetName } from './catalog.js';
import { type Datasets, fashionMnistDatasets, imageDatasets, type SplitName } from './datasets.js';
import { datasetsState } from './datasets-state.js';

const ROOT = process.env.LOPT_DATA_DIR!;
const FASHION_DIR = `${ROOT}/fashion-mnist`;
const FASHION = `${ROOT}/fashion-mnist`;
// Keep tests independent of whatever the machine has in its cache or system folders.
const isolated = { cacheRoot: null, systemDirs: [], download: false } as const;

// The raw pixels, decoded here with node:zlib independently of the package.
function rawImages(file: string): Uint8Array {
  return new Uint8Array(gunzipSync(readFileSync(`${FASHION}/${file}`))).subarray(16);
}

// Plain float64 TF2 bilinear resize (half-pixel centers) of one 28x28 image, then / 255.
function referenceResize(pixels: Uint8Array, index: number, outH: number, outW: number): number[] {
  const at = (y: number, x: number) => pixels[index * 784 + y * 28 + x]!;
  const out: number[] = [];
  for (let i = 0; i < outH; i++) {
    const sy = Math.max((i + 0.5) * (28 / outH) - 0.5, 0);
    const y0 = Math.floor(sy);
    const y1 = Math.min(y0 + 1, 27);
    const wy = sy - y0;
    for (let j = 0; j < outW; j++) {
      const sx = Math.max((j + 0.5) * (28 / outW) - 0.5, 0);
      const x0 = Math.floor(sx);
      const x1 = Math.min(x0 + 1, 27);
      const wx = sx - x0;
      const top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx;
      const bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx;
      out.push((top * (1 - wy) + bottom * wy) / 255);
    }
  }
  return out;
}

describe('fashionMnistDatasets on the real files', () => {
  let ds: Datasets;
  beforeAll(async () => {
    ds = await fashionMnistDatasets({ dataDir: FASHION, imageSize: [8, 8], batchSize: 128, ...isolated });
  });

  it('has the reference splits, metadata and class counts', () => {
    expect(ds.name).toBe('fashion_mnist');
    expect(ds.splitSizes).toEqual({ train: 48000, innerValid: 6000, outerValid: 6000, test: 10000 });
    expect(ds.numClasses).toBe(10);
    expect(ds.imageSize).toEqual([8, 8]);
    expect(ds.batchSize).toBe(128);
    expect(ds.elementSpec).toEqual({
      image: { shape: [128, 8, 8, 1], dtype: 'float32' },
      label: { shape: [128], dtype: 'int32' },
    });
    const trainCounts = new Array(10).fill(0);
    for (const s of ['train', 'innerValid', 'outerValid'] as const)
      for (const l of ds.arrays(s).labels) trainCounts[l]++;
    expect(trainCounts).toEqual(new Array(10).fill(6000));
    const testCounts = new Array(10).fill(0);
    for (const l of ds.arrays('test').labels) testCounts[l]++;
    expect(testCounts).toEqual(new Array(10).fill(1000));
    // Splits are contiguous slices of the official train set, in file order.
    const labels = new Uint8Array(gunzipSync(readFileSync(`${FASHION}/train-labels-idx1-ubyte.gz`))).subarray(8);
    expect(Array.from(ds.arrays('train').labels.subarray(0, 10))).toEqual([9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    expect(ds.arrays('innerValid').labels[0]).toBe(labels[48000]);
    expect(ds.arrays('outerValid').labels[5999]).toBe(labels[59999]);
  });

  it('resizes as TF2 bilinear does, scaled to [0, 1] (checked against a float64 reference)', async () => {
    const train = rawImages('train-images-idx3-ubyte.gz');
    const test = rawImages('t10k-images-idx3-ubyte.gz');
    const cases: [SplitName, Uint8Array, number, number][] = [
      ['train', train, 0, 0],
      ['train', train, 31337, 31337],
      ['innerValid', train, 17, 48017],
      ['outerValid', train, 5999, 59999],
      ['test', test, 4321, 4321],
    ];
    for (const [split, raw, i, official] of cases) {
      const got = ds.arrays(split).images.subarray(i * 64, (i + 1) * 64);
      const want = referenceResize(raw, official, 8, 8);
      for (let p = 0; p < 64; p++) expect(got[p]).toBeCloseTo(want[p]!, 6);
      expect(Math.max(...got)).toBeLessThanOrEqual(1);
      expect(Math.min(...got)).toBeGreaterThanOrEqual(0);
    }
    // Non-square sizes too, and full size is an exact /255 of the file's pixels.
    const tall = await fashionMnistDatasets({ dataDir: FASHION, imageSize: [10, 7], ...isolated });
    const want = referenceResize(train, 123, 10, 7);
    const got = tall.arrays('train').images.subarray(123 * 70, 124 * 70);
    for (let p = 0; p < 70; p++) expect(got[p]).toBeCloseTo(want[p]!, 6);
    const full = await fashionMnistDatasets({ dataDir: FASHION, imageSize: null, ...isolated });
    expect(full.imageSize).toEqual([28, 28]);
    expect(Array.from(full.arrays('test').images.subarray(784 * 9, 784 * 10))).toEqual(
      Array.from(test.subarray(784 * 9, 784 * 10), (v) => Math.fround(v / 255)),
    );
  });

  it('batches: shapes, dtypes, labels matching images, no leaked tensors', () => {
    const before = tf.memory().numTensors;
    for (const s of ['train', 'innerValid', 'outerValid', 'test'] as const) {
      const b = ds.split(s).next().value;
      expect(b.image.shape).toEqual([128, 8, 8, 1]);
      expect(b.image.dtype).toBe('float32');
      expect(b.label.shape).toEqual([128]);
      expect(b.label.dtype).toBe('int32');
      // Every batch row is some example of the split with its own label.
      const a = ds.arrays(s);
      const index = new Map<string, number>();
      for (let i = 0; i < a.count; i++) index.set(a.images.subarray(i * 64, (i + 1) * 64).join(), a.labels[i]!);
      const px = b.image.dataSync();
      const lb = b.label.dataSync();
      for (let r = 0; r < 128; r += 17) expect(index.get(px.subarray(r * 64, (r + 1) * 64).join())).toBe(lb[r]);
      tf.dispose(b);
    }
    // Past an epoch boundary (375 batches of the train split) and inside tf.tidy.
    for (let i = 0; i < 400; i++) {
      tf.tidy(() => {
        tf.sum(ds.train.next().value.image);
      });
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('shuffles deterministically per key, differently across keys and splits', async () => {
    const firstLabels = async (seed: number, split: SplitName) => {
      const d = await fashionMnistDatasets({
        dataDir: FASHION,
        imageSize: [8, 8],
        key: random.PRNGKey(seed),
        ...isolated,
      });
      const b = d.split(split).next().value;
      const out = [Array.from(b.label.dataSync()), Array.from(b.image.dataSync())];
      tf.dispose(b);
      return out;
    };
    const a = await firstLabels(7, 'train');
    expect(await firstLabels(7, 'train')).toEqual(a);
    expect((await firstLabels(8, 'train'))[0]).not.toEqual(a[0]);
    expect((await firstLabels(7, 'outerValid'))[0]).not.toEqual(a[0]);
    // The default key is PRNGKey(0).
    const d0 = await fashionMnistDatasets({ dataDir: FASHION, imageSize: [8, 8], ...isolated });
    const b0 = d0.train.next().value;
    expect(Array.from(b0.label.dataSync())).toEqual((await firstLabels(0, 'train'))[0]);
    tf.dispose(b0);
  });

  it('finds the files under LOPT_DATA_DIR/<dataset>/', async () => {
    const saved = process.env.LOPT_DATA_DIR;
    process.env.LOPT_DATA_DIR = ROOT;
    try {
      expect(defaultCacheRoot()).toBe(ROOT);
      const d = await fashionMnistDatasets({ imageSize: [8, 8], systemDirs: [], download: false });
      expect(d.splitSizes.train).toBe(48000);
    } finally {
      if (saved === undefined) delete process.env.LOPT_DATA_DIR;
      else process.env.LOPT_DATA_DIR = saved;
    }
  });

  it('rejects unknown splits and datasets, bad sizes and too-large batches', async () => {
    expect(() => ds.split('valid' as SplitName)).toThrow(
      /Unknown split 'valid' of fashion_mnist: splits are train, innerValid/,
    );
    expect(() => ds.arrays('validation' as SplitName)).toThrow(/Unknown split 'validation'/);
    await expect(imageDatasets('cifar10' as DatasetName, { dataDir: FASHION })).rejects.toThrow(
      /Unknown dataset 'cifar10': known datasets are 'fashion_mnist', 'mnist'/,
    );
    await expect(
      fashionMnistDatasets({ dataDir: FASHION, imageSize: [8, 8], batchSize: 6001, ...isolated }),
    ).rejects.toThrow(/batch size 6001 is larger than the innerValid split \(6000 examples\)/);
    await expect(fashionMnistDatasets({ dataDir: FASHION, batchSize: 1.5, ...isolated })).rejects.toThrow(
      /batchSize must be a positive integer, got 1.5/,
    );
    await expect(fashionMnistDatasets({ dataDir: FASHION, imageSize: [0, 8], ...isolated })).rejects.toThrow(
      /imageSize must be two positive integers/,
    );
  });
});

describe('datasetsState', () => {
  it('restores every split to where it was', async () => {
    const ds = await fashionMnistDatasets({ batchSize: 64, imageSize: [4, 4], dataDir: FASHION_DIR, download: false });
    const labels = (name: 'train' | 'test') => {
      const b = ds.split(name).next().value;
      const out = Array.from(b.label.dataSync());
      tf.dispose(b);
      return out;
    };
    labels('train');
    labels('test');
    const saved = JSON.parse(JSON.stringify(datasetsState(ds).get()));
    const expected = [labels('train'), labels('test'), labels('train')];
    labels('train');
    datasetsState(ds).set(saved);
    expect([labels('train'), labels('test'), labels('train')]).toEqual(expected);
    expect(() => datasetsState(ds).set({ ...saved, test: undefined })).toThrow(/no position for the test split/);
  });
});
