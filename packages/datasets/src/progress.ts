/** Progress of one file's download, reported as bytes arrive. */
export interface DownloadProgress {
  /** The dataset file being fetched, e.g. `'train-images-idx3-ubyte.gz'`. */
  file: string;
  /** The URL it comes from. */
  url: string;
  /** Bytes received so far. */
  receivedBytes: number;
  /** Total bytes, when the server sends a `Content-Length`. */
  totalBytes: number | undefined;
}

/** Called as a download progresses (several times per file). */
export type ProgressCallback = (progress: DownloadProgress) => void;

/** `base` joined with `fileName`, with exactly one slash between them. */
export function joinUrl(base: string, fileName: string): string {
  return `${base.replace(/\/+$/, '')}/${fileName}`;
}

/** A one-line description of a network error, including its cause (e.g. ECONNRESET). */
export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause;
  if (cause instanceof Error) {
    const code = (cause as Error & { code?: string }).code;
    return `${e.message} (${code ? `${code}: ` : ''}${cause.message})`;
  }
  return e.message;
}

/**
 * Reads a fetch response body chunk by chunk, reporting progress. Throws when the
 * connection ends before the announced `Content-Length`.
 */
export async function readBody(
  res: Response,
  file: string,
  url: string,
  onProgress: ProgressCallback | undefined,
  onChunk?: (chunk: Uint8Array) => Promise<void>,
): Promise<Uint8Array> {
  const header = res.headers.get('content-length');
  const totalBytes = header === null ? undefined : Number(header);
  const chunks: Uint8Array[] = [];
  let receivedBytes = 0;
  onProgress?.({ file, url, receivedBytes, totalBytes });
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      receivedBytes += value.length;
      if (onChunk) await onChunk(value);
      onProgress?.({ file, url, receivedBytes, totalBytes });
    }
  }
  if (totalBytes !== undefined && receivedBytes !== totalBytes) {
    throw new Error(`the connection ended after ${receivedBytes} of ${totalBytes} bytes`);
  }
  const out = new Uint8Array(receivedBytes);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
