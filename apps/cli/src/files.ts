import { accessSync, constants, mkdirSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { writeFileAtomic } from '@lopt/outer-trainers/node';
import { CliError } from './errors.js';

// Every file the command writes goes through the library's one atomic write.
export { writeFileAtomic };

/** A file-system error in words (its errno code means nothing to most users). */
export function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'the file system is read-only';
    case 'ENOTDIR':
      return 'part of the path is a file, not a folder';
    case 'ENOENT':
      return 'a folder on the path does not exist and cannot be created';
    case 'EEXIST':
      return 'a file of that name is in the way';
    case 'EISDIR':
      return 'it is a folder';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EDQUOT':
      return 'the disk quota is used up';
    case 'ENAMETOOLONG':
      return 'the path is too long';
    default:
      return (e as Error)?.message ?? String(e);
  }
}

/**
 * Creates `dir` when missing and checks it can be written to; throws a `CliError`
 * naming the folder, the reason in words and what to do otherwise. Returns the absolute path.
 */
export function ensureWritableDir(dir: string, what = 'output folder'): string {
  const abs = resolve(dir);
  try {
    mkdirSync(abs, { recursive: true });
    if (!statSync(abs).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
    accessSync(abs, constants.W_OK);
    // access() says yes to root on a read-only mount: a real write settles it.
    const probe = `${abs}/.lopt-write-test-${process.pid}`;
    writeFileAtomic(probe, '');
    rmSync(probe, { force: true });
  } catch (e) {
    throw new CliError(`cannot write to ${what} '${dir}': ${describeFsError(e)}; choose another --out`);
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
