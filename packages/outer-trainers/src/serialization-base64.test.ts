import { expect, test, vi } from 'vitest';
import { base64ToBytes, bytesToBase64 } from './serialization.js';

// Node's own encoder is the reference; sizes cover every remainder of 3 and more than one pool slab.
test('base64 round trips and matches the standard encoding at every length remainder', () => {
  for (const n of [0, 1, 2, 3, 4, 5, 255, 256, 257, 10_000, 100_001]) {
    const bytes = new Uint8Array(n);
    for (let i = 0; i < n; i++) bytes[i] = (i * 2654435761) >>> 24;
    const text = bytesToBase64(bytes);
    expect(text).toBe(Buffer.from(bytes).toString('base64'));
    const back = base64ToBytes(text);
    expect(back.byteOffset).toBe(0);
    expect(back.buffer.byteLength).toBe(n);
    expect(Array.from(back)).toEqual(Array.from(bytes));
  }
});

test('a view into a larger buffer encodes only its own bytes', () => {
  const all = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  expect(bytesToBase64(all.subarray(2, 5))).toBe(Buffer.from([3, 4, 5]).toString('base64'));
});

test('text outside the base64 alphabet is refused with the character named', () => {
  expect(() => base64ToBytes('AAA*')).toThrow(/invalid character '\*'/);
  expect(() => base64ToBytes('AA A')).toThrow(/invalid character ' '/);
  expect(() => base64ToBytes('AAAAA')).toThrow(/truncated/);
});

test('without Node Buffer (browsers) the plain code gives the same text and bytes', async () => {
  const NodeBuf = Buffer;
  vi.resetModules();
  vi.stubGlobal('Buffer', undefined);
  try {
    const plain = await import('./serialization.js');
    for (const n of [0, 1, 2, 3, 4, 1000, 1001]) {
      const bytes = new Uint8Array(n);
      for (let i = 0; i < n; i++) bytes[i] = (i * 40503) & 255;
      const text = plain.bytesToBase64(bytes);
      expect(text).toBe(NodeBuf.from(bytes).toString('base64'));
      expect(Array.from(plain.base64ToBytes(text))).toEqual(Array.from(bytes));
    }
  } finally {
    vi.unstubAllGlobals();
    vi.resetModules();
  }
});
