/**
 * @packageDocumentation
 * File I/O for meta-training in Node: atomic checkpoint files and JSON-lines metrics.
 * Import from `@lopt/outer-trainers/node`; the main entry stays browser-safe.
 */
import {
  appendFileSync,
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import type { CheckpointStore } from './meta-train.js';

/**
 * Writes `data` (text as UTF-8, or bytes) to `path` atomically: into a temporary file in
 * the same directory, flushed to disk, then renamed over `path`, so a crash or a kill
 * leaves the old file or the new one, never a torn one. A failed write removes the
 * temporary file and leaves `path` as it was.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      if (typeof data === 'string') writeSync(fd, data);
      else writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** A `CheckpointStore` backed by one file, written atomically. */
export function fileCheckpointStore(path: string): CheckpointStore {
  return {
    load: () => (existsSync(path) ? readFileSync(path, 'utf8') : undefined),
    save: (text) => writeFileAtomic(path, text),
  };
}

/** A metrics sink appending JSON lines to `path` (use with `metaTrain`'s `onMetricsLine`). */
export function jsonLinesAppender(path: string): (line: string) => void {
  return (line) => appendFileSync(path, line);
}
