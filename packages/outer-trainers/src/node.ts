/**
 * @packageDocumentation
 * File I/O for meta-training in Node: atomic checkpoint files and JSON-lines metrics.
 * Import from `@lopt/outer-trainers/node`; the main entry stays browser-safe.
 */
import { appendFileSync, closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import type { CheckpointStore } from './meta-train.js';

/**
 * Writes `text` to `path` atomically: into a temporary file in the same directory,
 * flushed to disk, then renamed over `path`, so a crash leaves the old file or the new
 * one, never a torn one.
 */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
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
