import { DatasetError } from './errors.js';

/**
 * Lowercase hex SHA-256 of `bytes`, through Web Crypto (`crypto.subtle`), which Node >= 20
 * and every browser provide, so no hashing code ships with the package.
 */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) {
    throw new DatasetError(
      'cannot verify the data: Web Crypto (crypto.subtle) is unavailable here (a page served over plain http from a non-local host); serve it over https or pass verify: false',
    );
  }
  const digest = new Uint8Array(await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  let hex = '';
  for (const b of digest) hex += b.toString(16).padStart(2, '0');
  return hex;
}
