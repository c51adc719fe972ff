import { accessSync, closeSync, constants, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { CliError } from './errors.js';

/**
 * Writes `data` to `path` atomically: a temporary file in the same folder, flushed, then
 * renamed over `path`, so a crash or a kill leaves the old file or the new one whole.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    if (typeof data === 'string') writeSync(fd, data);
    else writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/**
 * Creates `dir` when missing and checks it can be written to; throws a `CliError`
 * naming the folder otherwise. Returns the absolute path.
 */
export function ensureWritableDir(dir: string, what = 'output folder'): string {
  const abs = resolve(dir);
  try {
    mkdirSync(abs, { recursive: true });
    if (!statSync(abs).isDirectory()) throw new Error('not a folder');
    accessSync(abs, constants.W_OK);
    // access() says yes to root on a read-only mount: a real write settles it.
    const probe = `${abs}/.lopt-write-test-${process.pid}`;
    writeFileAtomic(probe, '');
    rmSync(probe, { force: true });
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new CliError(`cannot write to ${what} '${dir}' (${reason})`);
  }
  return abs;
}

/** Throws a `CliError` when no file exists at `path` (naming `what`); returns the absolute path. */
export function requireFile(path: string, what: string): string {
  const abs = resolve(path);
  let ok = false;
  try {
    ok = statSync(abs).isFile();
  } catch {
    ok = false;
  }
  if (!ok) throw new CliError(`${what} '${path}' does not exist`);
  return abs;
}
