import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { random } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { decodeBytes, encodeBytes } from './byte-vocabulary.js';
import { datasetsState } from './datasets-state.js';
import { DatasetError } from './errors.js';
import { jargonFileDatasets, textDatasets } from './text-datasets.js';
import { clearTextCache } from './text-source.js';

// Debian's jargon-text package (scripts/ci-system-deps.sh installs it).
const SYSTEM_FILE = '/usr/share/doc/jargon-text/jargon.txt.gz';
const isolated = { cacheRoot: null } as const;
// The text decoded here with node:zlib, independently of the package.
const raw = new Uint8Array(gunzipSync(readFileSync(SYSTEM_FILE)));

describe('jargonFileDatasets', () => {
  it('reads and checks the Debian copy, splits by position and batches next-byte windows', async () => {
    const ds = await jargonFileDatasets({ ...isolated, batchSize: 4, sequenceLength: 16, key: random.PRNGKey(3) });
    expect(ds.source).toBe(SYSTEM_FILE);
    expect(ds.vocabSize).toBe(256);
    const n = raw.length;
    expect(n).toBe(1681817);
    expect(ds.splitSizes).toEqual({
      train: Math.round(n * 0.8),
      innerValid: Math.round(n * 0.85) - Math.round(n * 0.8),
      outerValid: Math.round(n * 0.9) - Math.round(n * 0.85),
      test: n - Math.round(n * 0.9),
    });
    // Splits are consecutive pieces of the file.
    expect(Array.from(ds.tokens('test').subarray(0, 64))).toEqual(
      Array.from(raw.subarray(Math.round(n * 0.9), Math.round(n * 0.9) + 64)),
    );
    const start = tf.memory().numTensors;
    for (const split of ['train', 'innerValid', 'outerValid', 'test'] as const) {
      const toks = ds.tokens(split);
      const { obs, target } = ds.split(split).next().value;
      expect(obs.shape).toEqual([4, 16]);
      expect(obs.dtype).toBe('int32');
      const o = obs.arraySync();
      const t = target.arraySync();
      for (let b = 0; b < 4; b++) {
        // Every window is a real stretch of the split, the target shifted by one byte.
        const w = Array.from({ length: 16 }, (_, i) => o[b]![i]!);
        const at = findWindow(toks, w);
        expect(at % 16).toBe(0);
        expect(t[b]).toEqual(Array.from(toks.subarray(at + 1, at + 17)));
      }
      tf.dispose([obs, target]);
    }
    expect(tf.memory().numTensors).toBe(start);
    expect(decodeBytes(ds.tokens('train').subarray(32, 47))).toBe('The Jargon File');
  });

  it('resumes exactly from a saved position, across an epoch boundary', async () => {
    const opts = { ...isolated, batchSize: 100, sequenceLength: 8, key: random.PRNGKey(7) };
    const a = await jargonFileDatasets(opts);
    const windows = Math.floor((a.splitSizes.innerValid - 1) / 8);
    const perEpoch = Math.floor(windows / 100);
    for (let i = 0; i < perEpoch - 1; i++) tf.dispose(a.innerValid.next().value);
    const saved = JSON.parse(JSON.stringify(datasetsState(a).get()));
    const expected = Array.from({ length: 3 }, () => ids(a.innerValid.next().value));
    expect(a.innerValid.state().epochs).toBe(2);
    const b = await jargonFileDatasets({ ...opts, key: random.PRNGKey(99) });
    datasetsState(b).set(saved);
    expect(Array.from({ length: 3 }, () => ids(b.innerValid.next().value))).toEqual(expected);
  });

  it('gives the same batches for the same key and other batches for another key', async () => {
    const a = await jargonFileDatasets({ ...isolated, batchSize: 2, sequenceLength: 8, key: random.PRNGKey(1) });
    const b = await jargonFileDatasets({ ...isolated, batchSize: 2, sequenceLength: 8, key: random.PRNGKey(1) });
    const c = await jargonFileDatasets({ ...isolated, batchSize: 2, sequenceLength: 8, key: random.PRNGKey(2) });
    const x = ids(a.train.next().value);
    expect(ids(b.train.next().value)).toEqual(x);
    expect(ids(c.train.next().value)).not.toEqual(x);
  });

  it('finds the file in dataDir and LOPT_DATA_DIR-style cache folders, plain or gzip', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lopt-text-'));
    writeFileSync(join(dir, 'jargon.txt'), raw);
    const a = await jargonFileDatasets({ dataDir: dir, cacheRoot: null, systemDirs: [] });
    expect(a.source).toBe(join(dir, 'jargon.txt'));
    const root = mkdtempSync(join(tmpdir(), 'lopt-root-'));
    const sub = join(root, 'jargon-file');
    mkdirSync(sub);
    writeFileSync(join(sub, 'jargon.txt.gz'), readFileSync(SYSTEM_FILE));
    const b = await jargonFileDatasets({ cacheRoot: root, systemDirs: [] });
    expect(b.source).toBe(join(sub, 'jargon.txt.gz'));
    expect(Buffer.compare(b.tokens('train'), a.tokens('train'))).toBe(0);
    const c = await jargonFileDatasets({ bytes: readFileSync(SYSTEM_FILE) });
    expect(c.source).toBe('bytes');
  });

  it('rejects a wrong file, a missing file, too-large batches and unknown names with clear errors', async () => {
    clearTextCache();
    const dir = mkdtempSync(join(tmpdir(), 'lopt-text-bad-'));
    const changed = raw.slice();
    changed[100] = 65;
    writeFileSync(join(dir, 'jargon.txt'), changed);
    await expect(jargonFileDatasets({ dataDir: dir, cacheRoot: null, systemDirs: [] })).rejects.toThrow(
      /wrong SHA-256 of the unpacked text/,
    );
    // verify: false accepts a different text on purpose.
    const own = await jargonFileDatasets({ dataDir: dir, cacheRoot: null, systemDirs: [], verify: false });
    expect(own.tokens('train')[100]).toBe(65);
    writeFileSync(join(dir, 'jargon.txt.gz'), readFileSync(SYSTEM_FILE).subarray(0, 5000));
    await expect(jargonFileDatasets({ dataDir: dir, cacheRoot: null, systemDirs: [] })).rejects.toThrow(
      /truncated or corrupt gzip/,
    );
    const empty = mkdtempSync(join(tmpdir(), 'lopt-text-none-'));
    await expect(jargonFileDatasets({ dataDir: empty, cacheRoot: null, systemDirs: [] })).rejects.toThrow(
      /jargon\.txt\.gz of jargon_file not found in .*apt-get install jargon-text.*LOPT_DATA_DIR\/jargon-file/,
    );
    await expect(jargonFileDatasets({ ...isolated, batchSize: 20000, sequenceLength: 64 })).rejects.toThrow(
      /batch size 20000 of sequence length 64 needs 1280001 tokens, but the jargon_file innerValid split has/,
    );
    await expect(jargonFileDatasets({ ...isolated, sequenceLength: 0 })).rejects.toThrow(DatasetError);
    await expect(textDatasets('shakespeare' as never)).rejects.toThrow(
      /Unknown text corpus 'shakespeare': known corpora are jargon_file/,
    );
    const ds = await jargonFileDatasets({ ...isolated, batchSize: 1, sequenceLength: 4 });
    expect(() => ds.split('valid' as never)).toThrow(/Unknown split 'valid' of jargon_file/);
    expect(() => ds.train.restore({ key: [0, 1], orderKey: null, position: -1, epochs: 0 })).toThrow(
      /invalid iterator state \(position -1 of \d+ windows\)$/,
    );
  });
});

describe('byte vocabulary', () => {
  it('round-trips UTF-8 and rejects non-bytes', () => {
    const s = 'hacker “ethic” → ok';
    expect(decodeBytes(encodeBytes(s))).toBe(s);
    expect(encodeBytes('“').length).toBe(3);
    expect(() => decodeBytes([65, 256])).toThrow(/token 256 at position 1 is not a byte/);
  });
});

function ids(b: { obs: tf.Tensor; target: tf.Tensor }): number[] {
  const out = Array.from(b.obs.dataSync());
  tf.dispose(b);
  return out;
}

function findWindow(tokens: Uint8Array, w: number[]): number {
  // Windows start at multiples of the sequence length.
  for (let at = 0; at + w.length <= tokens.length; at += w.length) {
    let ok = true;
    for (let i = 0; i < w.length && ok; i++) ok = tokens[at + i] === w[i];
    if (ok) return at;
  }
  return -1;
}
