import { random } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { ShuffledBatchIterator } from './batch-iterator.js';
import type { SplitArrays } from './load-data.js';

// Ten 1x2 "images" whose pixels hold their own index, labels = index % 3.
function numbered(count: number): SplitArrays {
  const images = new Float32Array(count * 2);
  for (let i = 0; i < count; i++) images.set([i, i + 0.5], 2 * i);
  return { images, labels: Int32Array.from({ length: count }, (_, i) => i % 3), count, imageShape: [1, 2, 1] };
}

function take(it: ShuffledBatchIterator): number[] {
  const { image, label } = it.next().value;
  const px = image.dataSync();
  const lb = label.dataSync();
  const idx: number[] = [];
  for (let i = 0; i < lb.length; i++) {
    const j = px[2 * i]!;
    expect(px[2 * i + 1]).toBe(j + 0.5); // rows are copied whole
    expect(lb[i]).toBe(j % 3); // labels stay with their images
    idx.push(j);
  }
  tf.dispose([image, label]);
  return idx;
}

describe('ShuffledBatchIterator', () => {
  it('gives shape/dtype, reshuffles each epoch and drops the last partial batch', () => {
    const it = new ShuffledBatchIterator(numbered(10), 3, random.PRNGKey(0));
    const b = it.next().value;
    expect(b.image.shape).toEqual([3, 1, 2, 1]);
    expect(b.image.dtype).toBe('float32');
    expect(b.label.shape).toEqual([3]);
    expect(b.label.dtype).toBe('int32');
    tf.dispose(b);

    const fresh = new ShuffledBatchIterator(numbered(10), 3, random.PRNGKey(0));
    const epochs: number[][] = [];
    for (let e = 0; e < 4; e++) epochs.push([...take(fresh), ...take(fresh), ...take(fresh)]);
    for (const ep of epochs) {
      expect(ep).toHaveLength(9); // 3 batches of 3; the 10th example waits for another epoch
      expect(new Set(ep).size).toBe(9); // no repeats within an epoch
    }
    expect(fresh.epoch).toBe(4);
    expect(new Set(epochs.map((e) => e.join())).size).toBeGreaterThan(1); // orders differ
  });

  it('is deterministic per key and differs across keys', () => {
    const run = (seed: number) => {
      const it = new ShuffledBatchIterator(numbered(50), 7, random.PRNGKey(seed));
      return Array.from({ length: 10 }, () => take(it)).flat();
    };
    expect(run(1)).toEqual(run(1));
    expect(run(1)).not.toEqual(run(2));
  });

  it('leaks no tensors inside tf.tidy and rejects bad batch sizes', () => {
    const it = new ShuffledBatchIterator(numbered(10), 4, random.PRNGKey(0));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) {
      tf.tidy(() => {
        tf.sum(it.next().value.image);
      });
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(() => new ShuffledBatchIterator(numbered(10), 11, random.PRNGKey(0), 'test')).toThrow(
      /batch size 11 is larger than the test split \(10 examples\)/,
    );
    expect(() => new ShuffledBatchIterator(numbered(10), 0, random.PRNGKey(0))).toThrow(/positive integer/);
  });
});

describe('iterator state', () => {
  it('restore continues with exactly the batches an uninterrupted iterator gives', () => {
    const arrays = {
      images: Float32Array.from({ length: 50 * 4 }, (_, i) => i),
      labels: Int32Array.from({ length: 50 }, (_, i) => i % 10),
      count: 50,
      imageShape: [2, 2, 1] as [number, number, 1],
    };
    const key = random.PRNGKey(5);
    const a = new ShuffledBatchIterator(arrays, 8, key, 'train');
    const b = new ShuffledBatchIterator(arrays, 8, key, 'train');
    const labelsOf = (it: ShuffledBatchIterator) => {
      const batch = it.next().value;
      const out = Array.from(batch.label.dataSync());
      tf.dispose(batch);
      return out;
    };
    // Through an epoch boundary (6 batches of 8 per epoch of 50).
    for (let i = 0; i < 9; i++) labelsOf(a);
    const saved = JSON.parse(JSON.stringify(a.state()));
    const expected = Array.from({ length: 10 }, () => labelsOf(a));
    b.restore(saved);
    expect(Array.from({ length: 10 }, () => labelsOf(b))).toEqual(expected);
    expect(b.epoch).toBe(a.epoch);
    expect(() => b.restore({ ...saved, position: -1 })).toThrow(/invalid iterator state \(position -1\)$/);
    expect(() => b.restore({ ...saved, key: [1] })).toThrow(/invalid iterator state \(key 1\)$/);
  });
});
