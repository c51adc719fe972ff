import type { IdxFileInfo } from './catalog.js';
import { DatasetError } from './errors.js';
import { maybeGunzip } from './gunzip.js';
import { type IdxArray, parseIdx } from './idx.js';
import { sha256Hex } from './sha256.js';

/**
 * Unpacks (when gzip), parses and, when `verify` is on, checks the SHA-256 of the unpacked
 * IDX bytes of one dataset file. Every failure is a {@link DatasetError} naming `file`.
 */
export async function checkIdxFile(
  bytes: Uint8Array,
  file: string,
  spec: IdxFileInfo,
  rank: number,
  verify: boolean,
): Promise<IdxArray> {
  const unpacked = maybeGunzip(bytes, file);
  const idx = parseIdx(unpacked, file, rank);
  if (verify) {
    const sum = await sha256Hex(unpacked);
    if (sum !== spec.sha256) {
      throw new DatasetError(
        `${file}: wrong SHA-256 of the unpacked IDX data (${sum}, expected ${spec.sha256}): the file is corrupt or not the official ${spec.fileName}`,
        file,
      );
    }
  }
  return idx;
}
