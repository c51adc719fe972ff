import type { LearnedOptimizer } from './learned-optimizer.js';
import { deserializeTheta, serializeTheta } from './theta-format.js';

// Node's file system is loaded on demand (module names in variables keep bundlers from
// resolving them), so importing this package in a browser does not pull in `fs`.
type Fs = typeof import('node:fs/promises');
type Path = typeof import('node:path');

async function nodeModules(what: string): Promise<{ fs: Fs; path: Path }> {
  const fsName = 'node:fs/promises';
  const pathName = 'node:path';
  try {
    const fs = (await import(/* @vite-ignore */ fsName)) as Fs;
    const path = (await import(/* @vite-ignore */ pathName)) as Path;
    return { fs, path };
  } catch {
    throw new Error(`${what} needs Node's file system; in a browser use serializeTheta / deserializeTheta`);
  }
}

/**
 * Writes `theta` of `lopt` to `file` as a theta JSON document (see `ThetaFile`): the
 * learned optimizer's name, the tree structure and each leaf's path, shape and data.
 * The write is atomic: a temporary file in the same directory is renamed over `file`.
 * Node only (the file system is imported on first use); in browsers use `serializeTheta`.
 */
export async function saveTheta<T>(file: string, theta: T, lopt: LearnedOptimizer<T>): Promise<void> {
  const { fs, path } = await nodeModules('saveTheta');
  const text = serializeTheta(theta, lopt);
  const dir = path.dirname(path.resolve(file));
  await fs.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    await fs.writeFile(tmp, text, 'utf8');
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Reads a theta written by `saveTheta` for `lopt`. Throws a clear error naming both
 * sides when the file holds a theta of another learned optimizer or of other shapes,
 * and when it is missing or corrupt. Node only; in browsers use `deserializeTheta`.
 */
export async function loadTheta<T>(file: string, lopt: LearnedOptimizer<T>): Promise<T> {
  const { fs } = await nodeModules('loadTheta');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new Error(`loadTheta: cannot read ${file} (${(e as Error).message})`);
  }
  return deserializeTheta(text, lopt, file);
}
