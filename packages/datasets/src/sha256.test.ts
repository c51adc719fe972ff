import { afterEach, expect, it, vi } from 'vitest';
import { sha256Hex } from './sha256.js';

afterEach(() => {
  vi.unstubAllGlobals();
});

it('hashes with Web Crypto', async () => {
  expect(await sha256Hex(new TextEncoder().encode('abc'))).toBe(
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  );
});

it('says why when Web Crypto is missing (an insecure page)', async () => {
  vi.stubGlobal('crypto', {});
  await expect(sha256Hex(new Uint8Array(3))).rejects.toThrow(/Web Crypto \(crypto.subtle\) is unavailable/);
});
