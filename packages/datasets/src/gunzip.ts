import { gunzipSync } from 'fflate';
import { DatasetError } from './errors.js';

/** True when `bytes` start with the gzip magic number (0x1f 0x8b). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * The unpacked bytes of a gzip file, or the bytes themselves when they are not gzip
 * (a raw IDX file). A truncated or corrupt stream raises a {@link DatasetError} naming `file`.
 */
export function maybeGunzip(bytes: Uint8Array, file: string): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  // A complete stream ends with an 8-byte trailer (CRC32 + length mod 2^32); check the
  // length here because an inflater may return a short output for a cut stream.
  if (bytes.length < 18) throw new DatasetError(`${file}: truncated gzip file (${bytes.length} bytes)`, file);
  let out: Uint8Array;
  try {
    out = gunzipSync(bytes);
  } catch (e) {
    throw new DatasetError(`${file}: truncated or corrupt gzip data (${(e as Error).message})`, file, { cause: e });
  }
  const n = bytes.length;
  const isize = (bytes[n - 4]! | (bytes[n - 3]! << 8) | (bytes[n - 2]! << 16) | (bytes[n - 1]! << 24)) >>> 0;
  if (isize !== out.length % 2 ** 32) {
    throw new DatasetError(
      `${file}: truncated or corrupt gzip data (unpacked ${out.length} bytes, the gzip trailer says ${isize})`,
      file,
    );
  }
  return out;
}
