import {
  type Batch,
  type BatchIterator,
  type DatasetOptions,
  type Datasets,
  resizeBilinearTo01,
  type SplitName,
} from '@lopt/datasets';
import { type PRNGKey, random } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';

/** The two CIFAR datasets. */
export type CifarName = 'cifar10' | 'cifar100';

const PIXELS = 32 * 32;
const SPLITS: readonly SplitName[] = ['train', 'innerValid', 'outerValid', 'test'];

/** The binary files of each CIFAR set, and the bytes of label before each image. */
const LAYOUT = {
  cifar10: {
    folder: 'cifar-10-batches-bin',
    train: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'],
    test: ['test_batch.bin'],
    labelBytes: 1,
    numClasses: 10,
  },
  cifar100: { folder: 'cifar-100-binary', train: ['train.bin'], test: ['test.bin'], labelBytes: 2, numClasses: 100 },
} as const;

/** Decoded CIFAR records: planar RGB pixels (`count * 3 * 1024` bytes) and labels. */
export interface CifarRecords {
  /** Per image, the red, green and blue 32x32 planes, row-major. */
  pixels: Uint8Array;
  /** The class of each image (CIFAR-100: the fine label). */
  labels: Int32Array;
  /** Number of images. */
  count: number;
}

/**
 * Parses records of the CIFAR binary format: per image, the label byte(s) (CIFAR-100:
 * coarse then fine; the fine label is kept) and 3072 pixel bytes (R, G, B planes of 32x32).
 * Throws, naming `file`, when the size is not a whole number of records or a label is
 * out of range.
 */
export function parseCifarBinary(bytes: Uint8Array, name: CifarName, file: string = name): CifarRecords {
  const { labelBytes, numClasses } = LAYOUT[name];
  const rec = labelBytes + 3 * PIXELS;
  if (bytes.length === 0 || bytes.length % rec !== 0) {
    throw new Error(`${file}: ${bytes.length} bytes is not a whole number of ${name} records (${rec} bytes each)`);
  }
  const count = bytes.length / rec;
  const pixels = new Uint8Array(count * 3 * PIXELS);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const off = i * rec;
    const label = bytes[off + labelBytes - 1]!;
    if (label >= numClasses)
      throw new Error(`${file}: record ${i} has label ${label}, beyond the ${numClasses} classes of ${name}`);
    labels[i] = label;
    pixels.set(bytes.subarray(off + labelBytes, off + rec), i * 3 * PIXELS);
  }
  return { pixels, labels, count };
}

function concatRecords(parts: CifarRecords[]): CifarRecords {
  const count = parts.reduce((n, p) => n + p.count, 0);
  const pixels = new Uint8Array(count * 3 * PIXELS);
  const labels = new Int32Array(count);
  let at = 0;
  for (const p of parts) {
    pixels.set(p.pixels, at * 3 * PIXELS);
    labels.set(p.labels, at);
    at += p.count;
  }
  return { pixels, labels, count };
}

/**
 * Images as float32 `[count, h, w, c]` in [0, 1]: each colour plane resized as TF2's
 * bilinear `tf.image.resize` does, then interleaved; `blackAndWhite` averages the channels.
 */
export function cifarToImages(records: CifarRecords, h: number, w: number, blackAndWhite = false): Float32Array {
  const planes = resizeBilinearTo01(records.pixels, records.count * 3, 32, 32, h, w);
  const hw = h * w;
  const c = blackAndWhite ? 1 : 3;
  const out = new Float32Array(records.count * hw * c);
  for (let i = 0; i < records.count; i++) {
    const src = i * 3 * hw;
    const dst = i * hw * c;
    for (let p = 0; p < hw; p++) {
      const r = planes[src + p]!;
      const g = planes[src + hw + p]!;
      const b = planes[src + 2 * hw + p]!;
      if (blackAndWhite) out[dst + p] = (r + g + b) / 3;
      else {
        out[dst + 3 * p] = r;
        out[dst + 3 * p + 1] = g;
        out[dst + 3 * p + 2] = b;
      }
    }
  }
  return out;
}

/** Split arrays with `c` channels (the `SplitArrays` layout of `@lopt/datasets`, any channel count). */
interface ColorSplit {
  images: Float32Array;
  labels: Int32Array;
  count: number;
  shape: [number, number, number];
}

/** Shuffled endless batches of a colour split; epoch `e` uses the `e`-th key split off `key`. */
class ColorBatchIterator implements BatchIterator {
  private key: PRNGKey;
  private order: Int32Array | undefined;
  private position = 0;

  constructor(
    private readonly split: ColorSplit,
    private readonly batchSize: number,
    key: PRNGKey,
    splitName: string,
  ) {
    if (batchSize > split.count) {
      throw new Error(`batch size ${batchSize} is larger than the ${splitName} split (${split.count} examples)`);
    }
    this.key = key;
  }

  next(): IteratorResult<Batch> & { done: false; value: Batch } {
    const B = this.batchSize;
    if (!this.order || this.position + B > this.order.length) {
      const [next, sub] = random.split(this.key);
      this.key = next!;
      this.order = random.permutationIndices(sub!, this.split.count);
      this.position = 0;
    }
    const [h, w, c] = this.split.shape;
    const size = h * w * c;
    const images = new Float32Array(B * size);
    const labels = new Int32Array(B);
    for (let i = 0; i < B; i++) {
      const j = this.order[this.position + i]!;
      images.set(this.split.images.subarray(j * size, (j + 1) * size), i * size);
      labels[i] = this.split.labels[j]!;
    }
    this.position += B;
    return {
      done: false,
      value: { image: tf.tensor4d(images, [B, h, w, c], 'float32'), label: tf.tensor1d(labels, 'int32') },
    };
  }

  [Symbol.iterator](): this {
    return this;
  }
}

async function readFirst(dirs: string[], file: string): Promise<{ path: string; bytes: Uint8Array } | undefined> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  for (const d of dirs) {
    const p = path.join(d, file);
    try {
      return { path: p, bytes: new Uint8Array(await fs.readFile(p)) };
    } catch (e) {
      if ((e as { code?: string }).code !== 'ENOENT') throw e;
    }
  }
  return undefined;
}

/** Options of {@link cifarDatasets}. */
export interface CifarOptions extends Omit<DatasetOptions, 'dataDir'> {
  /**
   * The folder holding the binary files (`data_batch_{1..5}.bin` and `test_batch.bin` for
   * CIFAR-10, `train.bin` and `test.bin` for CIFAR-100), or its parent holding
   * `cifar-10-batches-bin/` / `cifar-100-binary/` as the official archives unpack.
   */
  dataDir?: string;
  /** Average the three channels into one (the reference's `convert_to_black_and_white`). */
  blackAndWhite?: boolean;
}

/**
 * CIFAR-10 or CIFAR-100 from the official binary files in `dataDir` (Node only; nothing
 * is downloaded), in the shape of `@lopt/datasets`' `Datasets`: splits train[0:80%],
 * train[80%:90%], train[90%:] and test, images `[B, H, W, 3]` (or 1 channel in black and
 * white) in [0, 1], resized to `imageSize` (default 32x32), batches reshuffled per epoch
 * from `key` (split `i` from `foldIn(key, i)`).
 */
export async function cifarDatasets(name: CifarName, opts: CifarOptions = {}): Promise<Datasets> {
  const layout = LAYOUT[name];
  if (!opts.dataDir) {
    throw new Error(`${name}: CIFAR is read from local binary files: pass dataDir (the folder of ${layout.train[0]})`);
  }
  const dirs = [opts.dataDir, `${opts.dataDir.replace(/[\\/]+$/, '')}/${layout.folder}`];
  // Read every file before complaining, so the error names all missing files in a fixed order.
  const files = [...layout.train, ...layout.test];
  const read = await Promise.all(files.map((f) => readFirst(dirs, f)));
  const missing = files.filter((_, i) => read[i] === undefined);
  if (missing.length > 0) {
    throw new Error(
      `${name}: CIFAR file${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not found in ${dirs.join(' or ')}; ` +
        `unpack the official binary archive (${layout.folder}) there or pass its folder as dataDir`,
    );
  }
  const parsed = read.map((r) => parseCifarBinary(r!.bytes, name, r!.path));
  const train = concatRecords(parsed.slice(0, layout.train.length));
  const test = concatRecords(parsed.slice(layout.train.length));
  const [h, w] = opts.imageSize ?? [32, 32];
  const c = opts.blackAndWhite ? 1 : 3;
  const batchSize = opts.batchSize ?? 128;
  const key = opts.key ?? random.PRNGKey(0);
  const trainImages = cifarToImages(train, h, w, opts.blackAndWhite);
  const testImages = cifarToImages(test, h, w, opts.blackAndWhite);
  const size = h * w * c;
  const view = (images: Float32Array, labels: Int32Array, s: number, e: number): ColorSplit => ({
    images: images.subarray(s * size, e * size),
    labels: labels.subarray(s, e),
    count: e - s,
    shape: [h, w, c],
  });
  const n = train.count;
  const cut1 = Math.round((n * 80) / 100);
  const cut2 = Math.round((n * 90) / 100);
  const splits: Record<SplitName, ColorSplit> = {
    train: view(trainImages, train.labels, 0, cut1),
    innerValid: view(trainImages, train.labels, cut1, cut2),
    outerValid: view(trainImages, train.labels, cut2, n),
    test: view(testImages, test.labels, 0, test.count),
  };
  const iterators = {} as Record<SplitName, BatchIterator>;
  SPLITS.forEach((s, i) => {
    iterators[s] = new ColorBatchIterator(splits[s], batchSize, random.foldIn(key, i), s);
  });
  const check = (s: string): SplitName => {
    if (!(SPLITS as readonly string[]).includes(s))
      throw new Error(`Unknown split '${s}' of ${name}: splits are ${SPLITS.join(', ')}`);
    return s as SplitName;
  };
  return {
    name,
    ...iterators,
    elementSpec: {
      image: { shape: [batchSize, h, w, c], dtype: 'float32' },
      label: { shape: [batchSize], dtype: 'int32' },
    },
    numClasses: layout.numClasses,
    imageSize: [h, w],
    batchSize,
    splitSizes: { train: cut1, innerValid: cut2 - cut1, outerValid: n - cut2, test: test.count },
    split: (s) => iterators[check(s)],
    // SplitArrays describes one-channel images; colour arrays keep their channels last.
    arrays: (s) => {
      const a = splits[check(s)];
      return {
        images: a.images,
        labels: a.labels,
        count: a.count,
        imageShape: a.shape as unknown as [number, number, 1],
      };
    },
  };
}
