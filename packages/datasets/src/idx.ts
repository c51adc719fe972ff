import { DatasetError } from './errors.js';

/** A parsed IDX array of unsigned bytes. */
export interface IdxArray {
  /** Dimensions from the header, e.g. `[60000, 28, 28]` for images, `[60000]` for labels. */
  dims: number[];
  /** The values, row-major (a view into the file's bytes). */
  data: Uint8Array;
}

/**
 * Parses an IDX file of unsigned bytes (the MNIST format: magic `0x00000800 + rank`, then
 * `rank` big-endian 32-bit dimensions, then the data). Checks the magic number, the
 * expected rank and that the data length equals the product of the dimensions; any
 * mismatch raises a {@link DatasetError} naming `file`.
 */
export function parseIdx(bytes: Uint8Array, file: string, expectedRank: number): IdxArray {
  if (bytes.length < 4) throw new DatasetError(`${file}: too short to be an IDX file (${bytes.length} bytes)`, file);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const expectedMagic = 0x800 + expectedRank;
  if (magic !== expectedMagic) {
    throw new DatasetError(
      `${file}: wrong IDX magic number 0x${magic.toString(16).padStart(8, '0')}, expected 0x${expectedMagic
        .toString(16)
        .padStart(8, '0')} (unsigned bytes, rank ${expectedRank})`,
      file,
    );
  }
  const headerBytes = 4 + 4 * expectedRank;
  if (bytes.length < headerBytes) throw new DatasetError(`${file}: IDX header cut short (${bytes.length} bytes)`, file);
  const dims: number[] = [];
  let size = 1;
  for (let i = 0; i < expectedRank; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    size *= d;
  }
  if (bytes.length - headerBytes !== size) {
    throw new DatasetError(
      `${file}: IDX data has ${bytes.length - headerBytes} bytes, the header's dimensions [${dims.join(', ')}] need ${size}`,
      file,
    );
  }
  return { dims, data: bytes.subarray(headerBytes) };
}
