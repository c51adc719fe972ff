import { gzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { DatasetError } from './errors.js';
import { maybeGunzip } from './gunzip.js';
import { parseIdx } from './idx.js';

function idx(magic: number, dims: number[], data: number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

describe('parseIdx', () => {
  it('reads dimensions and data', () => {
    const a = parseIdx(idx(0x803, [2, 1, 2], [1, 2, 3, 4]), 'x', 3);
    expect(a.dims).toEqual([2, 1, 2]);
    expect(Array.from(a.data)).toEqual([1, 2, 3, 4]);
  });

  it('rejects a wrong magic number, naming the file', () => {
    expect(() => parseIdx(idx(0x801, [2], [1, 2]), 'labels.idx', 3)).toThrow(
      /labels\.idx: wrong IDX magic number 0x00000801, expected 0x00000803/,
    );
  });

  it('rejects data whose length disagrees with the header', () => {
    expect(() => parseIdx(idx(0x801, [3], [1, 2]), 'f', 1)).toThrow(/f: IDX data has 2 bytes.*\[3\] need 3/);
    expect(() => parseIdx(Uint8Array.of(0, 0, 8), 'g', 1)).toThrow(/g: too short/);
    expect(() => parseIdx(Uint8Array.of(0, 0, 8, 3, 0, 0), 'h', 3)).toThrow(/h: IDX header cut short/);
  });
});

describe('maybeGunzip', () => {
  const raw = idx(
    0x801,
    [1000],
    Array.from({ length: 1000 }, (_, i) => i % 7),
  );

  it('unpacks gzip and passes raw bytes through', () => {
    expect(maybeGunzip(gzipSync(raw), 'a.gz')).toEqual(raw);
    expect(maybeGunzip(raw, 'a')).toBe(raw);
  });

  it('rejects truncated gzip data, naming the file', () => {
    const gz = gzipSync(raw);
    for (const cut of [10, gz.length >> 1, gz.length - 3]) {
      const err = (() => {
        try {
          maybeGunzip(gz.subarray(0, cut), 'cut.gz');
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(DatasetError);
      expect((err as Error).message).toMatch(/^cut\.gz: truncated/);
    }
  });
});
