import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DatasetOptions, fashionMnistDatasets, mnistDatasets } from './datasets.js';
import { DatasetError } from './errors.js';
import type { DownloadProgress } from './progress.js';

const FASHION = `${process.env.LOPT_DATA_DIR}/fashion-mnist`;
const MNIST = `${process.env.LOPT_DATA_DIR}/mnist`;
const FILES = [
  'train-images-idx3-ubyte.gz',
  'train-labels-idx1-ubyte.gz',
  't10k-images-idx3-ubyte.gz',
  't10k-labels-idx1-ubyte.gz',
];

// A local mirror of the MNIST files. Paths: /ok/<file>; /404/<file> (404 for the test
// images only, after the other files came through); /reset/<file> (the train images are
// cut off half-way by a dropped connection); /corrupt/<file> (a flipped byte in the labels).
let server: Server;
let base: string;
const tmpDirs: string[] = [];

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'lopt-datasets-'));
  tmpDirs.push(d);
  return d;
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const [, mode, file] = (req.url ?? '').split('/');
    if (!file || !FILES.includes(file) || !['ok', '404', 'reset', 'corrupt'].includes(mode!)) {
      res.writeHead(404).end();
      return;
    }
    const body = readFileSync(join(MNIST, file));
    if (mode === '404' && file.startsWith('t10k-images')) {
      res.writeHead(404, 'Not Found').end();
    } else if (mode === 'reset' && file.startsWith('train-images')) {
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, body.length >> 1), () => res.socket?.destroy());
    } else if (mode === 'corrupt' && file.startsWith('train-labels')) {
      const raw = gunzipSync(body);
      raw[100] = (raw[100]! + 1) % 10;
      res.writeHead(200, { 'content-length': raw.length }).end(raw);
    } else {
      res.writeHead(200, { 'content-length': body.length }).end(body);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

/** A port nothing listens on (the "no network" case), picked right before its use. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  return port;
}

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

const only = (dataDir: string, extra: DatasetOptions = {}): DatasetOptions => ({
  dataDir,
  cacheRoot: null,
  systemDirs: [],
  imageSize: [8, 8],
  ...extra,
});

async function failure(p: Promise<unknown>): Promise<DatasetError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DatasetError);
    return e as DatasetError;
  }
  throw new Error('expected the load to fail');
}

describe('downloading', () => {
  it('downloads into the cache root, verifies, renames into place and reports progress', async () => {
    const root = tmp();
    const progress: DownloadProgress[] = [];
    const ds = await mnistDatasets({
      cacheRoot: root,
      systemDirs: [],
      baseUrl: `${base}/ok/`,
      imageSize: [8, 8],
      onProgress: (p) => progress.push({ ...p }),
    });
    expect(ds.name).toBe('mnist');
    expect(ds.splitSizes).toEqual({ train: 48000, innerValid: 6000, outerValid: 6000, test: 10000 });
    expect(readdirSync(join(root, 'mnist')).sort()).toEqual([...FILES].sort());
    for (const f of FILES) expect(readFileSync(join(root, 'mnist', f)).equals(readFileSync(join(MNIST, f)))).toBe(true);
    const last = progress.filter((p) => p.file === 'train-images-idx3-ubyte.gz').at(-1)!;
    expect(last.url).toBe(`${base}/ok/train-images-idx3-ubyte.gz`);
    expect(last.receivedBytes).toBe(9912422);
    expect(last.totalBytes).toBe(9912422);
    // Once there, the files are read from disk: downloading off still works.
    const again = await mnistDatasets({ cacheRoot: root, systemDirs: [], download: false, imageSize: [4, 4] });
    expect(again.splitSizes.test).toBe(10000);
  });

  it('fails with a 404 half-way, keeping only complete, verified files', async () => {
    const dir = tmp();
    const e = await failure(mnistDatasets(only(dir, { baseUrl: `${base}/404` })));
    expect(e.message).toMatch(
      /^t10k-images-idx3-ubyte\.gz of mnist not found in .*, and the download failed: .*t10k-images-idx3-ubyte\.gz: HTTP 404/,
    );
    expect(readdirSync(dir).sort()).toEqual([
      't10k-labels-idx1-ubyte.gz',
      'train-images-idx3-ubyte.gz',
      'train-labels-idx1-ubyte.gz',
    ]);
  });

  it('fails on a connection reset mid-file, leaving no partial file', async () => {
    const dir = tmp();
    const e = await failure(mnistDatasets(only(dir, { baseUrl: `${base}/reset` })));
    expect(e.message).toMatch(
      /^train-images-idx3-ubyte\.gz of mnist not found in .*, and the download failed: .*\/reset\/train-images-idx3-ubyte\.gz: /,
    );
    expect(e.message).toMatch(/terminated|ECONNRESET|socket|ended after/i);
    expect(readdirSync(dir).sort()).toEqual(['t10k-labels-idx1-ubyte.gz', 'train-labels-idx1-ubyte.gz']);
  });

  it('rejects a downloaded file with a wrong sum and does not keep it', async () => {
    const dir = tmp();
    const e = await failure(mnistDatasets(only(dir, { baseUrl: `${base}/corrupt` })));
    expect(e.message).toMatch(/\/corrupt\/train-labels-idx1-ubyte\.gz: wrong SHA-256 of the unpacked IDX data/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('fails clearly when a file is missing and there is no network', async () => {
    const dir = tmp();
    const e = await failure(mnistDatasets(only(dir, { baseUrl: `http://127.0.0.1:${await closedPort()}/` })));
    expect(e.message).toContain(`train-labels-idx1-ubyte.gz of mnist not found in ${dir}, and the download failed`);
    expect(e.message).toMatch(/ECONNREFUSED/);
    const off = await failure(fashionMnistDatasets(only(dir, { download: false })));
    expect(off.message).toBe(`train-labels-idx1-ubyte.gz of fashion_mnist not found in ${dir}, and downloading is off`);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('bad files on disk', () => {
  // A folder with the real Fashion-MNIST files except `replace`, written as given.
  function folder(replace: Record<string, Uint8Array>): string {
    const dir = tmp();
    mkdirSync(dir, { recursive: true });
    for (const f of FILES) if (!(f in replace)) symlinkSync(join(FASHION, f), join(dir, f));
    for (const [f, bytes] of Object.entries(replace)) writeFileSync(join(dir, f), bytes);
    return dir;
  }
  const rawLabels = () => new Uint8Array(gunzipSync(readFileSync(join(FASHION, 'train-labels-idx1-ubyte.gz'))));

  it('a truncated .gz', async () => {
    const gz = readFileSync(join(FASHION, 't10k-labels-idx1-ubyte.gz'));
    const dir = folder({ 't10k-labels-idx1-ubyte.gz': gz.subarray(0, 3000) });
    const e = await failure(fashionMnistDatasets(only(dir, { download: false })));
    expect(e.message).toMatch(new RegExp(`^${dir}/t10k-labels-idx1-ubyte\\.gz: truncated or corrupt gzip data`));
  });

  it('a wrong sum (one label changed)', async () => {
    const raw = rawLabels();
    raw[8] = (raw[8]! + 1) % 10;
    const dir = folder({ 'train-labels-idx1-ubyte.gz': new Uint8Array(), 'train-labels-idx1-ubyte': raw });
    rmSync(join(dir, 'train-labels-idx1-ubyte.gz'));
    const e = await failure(fashionMnistDatasets(only(dir, { download: false })));
    expect(e.message).toMatch(
      new RegExp(
        `^${dir}/train-labels-idx1-ubyte: wrong SHA-256 of the unpacked IDX data \\([0-9a-f]{64}, expected bad3541b`,
      ),
    );
  });

  it('a wrong IDX magic number', async () => {
    const raw = rawLabels();
    raw[3] = 3; // 0x00000803: an images file where labels belong
    const dir = folder({ 'train-labels-idx1-ubyte.gz': raw });
    const e = await failure(fashionMnistDatasets(only(dir, { download: false })));
    expect(e.message).toBe(
      `${dir}/train-labels-idx1-ubyte.gz: wrong IDX magic number 0x00000803, expected 0x00000801 (unsigned bytes, rank 1)`,
    );
  });

  it('an image/label count mismatch (sums off, structure still checked)', async () => {
    const raw = rawLabels();
    const cut = raw.slice(0, raw.length - 1);
    new DataView(cut.buffer).setUint32(4, 59999);
    const dir = folder({ 'train-labels-idx1-ubyte.gz': cut });
    const e = await failure(fashionMnistDatasets(only(dir, { download: false, verify: false })));
    expect(e.message).toBe(
      `image/label count mismatch: ${dir}/train-images-idx3-ubyte.gz has 60000 images, ${dir}/train-labels-idx1-ubyte.gz has 59999 labels`,
    );
    // With sums on, the same file is rejected as not the official one.
    const e2 = await failure(fashionMnistDatasets(only(dir, { download: false })));
    expect(e2.message).toMatch(/train-labels-idx1-ubyte\.gz: wrong SHA-256/);
  });

  it('searches dataDir, then the cache root, then the system folders', async () => {
    const raw = rawLabels();
    raw[3] = 3;
    const bad = folder({ 'train-labels-idx1-ubyte.gz': raw });
    const empty = tmp();
    // Good files later in the order, but a bad file found earlier is an error, not skipped.
    const good = tmp();
    symlinkSync(FASHION, join(good, 'fashion-mnist'));
    const viaDataDir = await failure(
      fashionMnistDatasets({ dataDir: bad, cacheRoot: good, systemDirs: [FASHION], download: false }),
    );
    expect(viaDataDir.file).toBe(join(bad, 'train-labels-idx1-ubyte.gz'));
    expect(viaDataDir.message).toMatch(/wrong IDX magic/);
    const root = tmp();
    symlinkSync(bad, join(root, 'fashion-mnist'));
    const viaCache = await failure(
      fashionMnistDatasets({ dataDir: empty, cacheRoot: root, systemDirs: [FASHION], download: false }),
    );
    expect(viaCache.file).toBe(join(root, 'fashion-mnist', 'train-labels-idx1-ubyte.gz'));
    const viaSystem = await fashionMnistDatasets({
      dataDir: empty,
      cacheRoot: tmp(),
      systemDirs: [FASHION],
      download: false,
    });
    expect(viaSystem.splitSizes.test).toBe(10000);
  });

  it('accepts raw (unpacked) IDX files and a gzip header other than the official one', async () => {
    const labels = rawLabels();
    const testImages = gunzipSync(readFileSync(join(FASHION, 't10k-images-idx3-ubyte.gz')));
    const { gzipSync } = await import('node:zlib');
    const dir = folder({
      'train-labels-idx1-ubyte.gz': new Uint8Array(),
      't10k-images-idx3-ubyte.gz': gzipSync(testImages, { level: 1 }),
    });
    rmSync(join(dir, 'train-labels-idx1-ubyte.gz'));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), labels);
    const ds = await fashionMnistDatasets(only(dir, { download: false }));
    expect(ds.splitSizes).toEqual({ train: 48000, innerValid: 6000, outerValid: 6000, test: 10000 });
    copyFileSync(join(FASHION, 'SHA256SUMS'), join(dir, 'SHA256SUMS')); // extra files are ignored
  });
});

describe('fetching without a file system (the browser path)', () => {
  it('fetches and checks a file from a base URL, and names the URL when it fails', async () => {
    const { loadFileFetch } = await import('./fetch-source.js');
    const { datasetInfo } = await import('./catalog.js');
    const info = datasetInfo('mnist');
    const seen: number[] = [];
    const got = await loadFileFetch(
      info,
      info.files.testLabels,
      1,
      [`${base}/nowhere`, `${base}/ok`],
      (p) => seen.push(p.receivedBytes),
      true,
    );
    expect(got.source).toBe(`${base}/ok/t10k-labels-idx1-ubyte.gz`);
    expect(got.idx.dims).toEqual([10000]);
    expect(seen.at(-1)).toBe(4542);
    const e = await failure(loadFileFetch(info, info.files.testImages, 3, [`${base}/404`], undefined, true));
    expect(e.message).toBe(
      `t10k-images-idx3-ubyte.gz of mnist could not be fetched: ${base}/404/t10k-images-idx3-ubyte.gz: HTTP 404 Not Found`,
    );
    const bad = await failure(loadFileFetch(info, info.files.trainLabels, 1, [`${base}/corrupt`], undefined, true));
    expect(bad.message).toMatch(/\/corrupt\/train-labels-idx1-ubyte\.gz: wrong SHA-256/);
  });
});
