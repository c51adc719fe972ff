/** Size of the byte-level vocabulary: every byte value is a token. */
export const BYTE_VOCAB_SIZE = 256;

/** The UTF-8 bytes of `text`, as token ids of the byte-level vocabulary. */
export function encodeBytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/**
 * The text of byte-level token ids (UTF-8; a sequence cut inside a multi-byte character
 * decodes that character as U+FFFD). Ids outside [0, 256) throw.
 */
export function decodeBytes(ids: ArrayLike<number>): string {
  const bytes = new Uint8Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const v = ids[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= BYTE_VOCAB_SIZE) {
      throw new RangeError(`decodeBytes: token ${v} at position ${i} is not a byte (0..255)`);
    }
    bytes[i] = v;
  }
  return new TextDecoder('utf-8').decode(bytes);
}
