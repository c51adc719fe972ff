import type { DatasetInfo, IdxFileInfo } from './catalog.js';
import { checkIdxFile } from './check-file.js';
import { DatasetError } from './errors.js';
import type { IdxArray } from './idx.js';
import { describeError, joinUrl, type ProgressCallback, readBody } from './progress.js';

/** Where the Node loader looks for (and puts) one dataset's files. */
export interface NodeSourceOptions {
  /** Searched first; downloads go here when given. */
  dataDir: string | undefined;
  /** The dataset's folder in the cache root; searched second; downloads go here otherwise. */
  cacheDir: string | undefined;
  /** System folders searched next (Debian's package). */
  systemDirs: readonly string[];
  /** Base URLs to download from, in order; empty means no download. */
  mirrors: readonly string[];
  /** Progress of downloads. */
  onProgress: ProgressCallback | undefined;
  /** Check the SHA-256 of the unpacked bytes. */
  verify: boolean;
}

// Node modules load on demand, their names in variables, so browser bundlers neither
// resolve nor bundle them (the browser path never reaches this file's functions).
const FS = 'node:fs/promises';
const PATH = 'node:path';
const CRYPTO = 'node:crypto';

async function nodeFs() {
  const [fs, path, crypto] = await Promise.all([
    import(/* @vite-ignore */ FS) as Promise<typeof import('node:fs/promises')>,
    import(/* @vite-ignore */ PATH) as Promise<typeof import('node:path')>,
    import(/* @vite-ignore */ CRYPTO) as Promise<typeof import('node:crypto')>,
  ]);
  return { fs, path, crypto };
}

/**
 * Finds one file in the search folders (the `.gz` name, then the raw IDX name), else
 * downloads it into `dataDir` (or the cache folder) through a temporary file that is
 * renamed into place only once checked. A file that is found but fails its checks is an
 * error, not a reason to look further: corrupt data must not be papered over.
 */
export async function loadFileNode(
  info: DatasetInfo,
  spec: IdxFileInfo,
  rank: number,
  opts: NodeSourceOptions,
): Promise<{ idx: IdxArray; source: string }> {
  const { fs, path, crypto } = await nodeFs();
  const dirs = [opts.dataDir, opts.cacheDir, ...opts.systemDirs].filter((d): d is string => !!d);
  const rawName = spec.fileName.replace(/\.gz$/, '');
  for (const dir of dirs) {
    for (const name of [spec.fileName, rawName]) {
      const file = path.join(dir, name);
      let bytes: Uint8Array;
      try {
        bytes = await fs.readFile(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') continue;
        throw new DatasetError(`${file}: cannot be read (${describeError(e)})`, file, { cause: e });
      }
      return { idx: await checkIdxFile(bytes, file, spec, rank, opts.verify), source: file };
    }
  }

  const searched = dirs.length ? dirs.join(', ') : '(no folder)';
  const targetDir = opts.dataDir ?? opts.cacheDir;
  if (!opts.mirrors.length) {
    throw new DatasetError(
      `${spec.fileName} of ${info.name} not found in ${searched}, and downloading is off`,
      spec.fileName,
    );
  }
  if (!targetDir) {
    throw new DatasetError(
      `${spec.fileName} of ${info.name} not found in ${searched}, and there is no folder to download it into (set dataDir or LOPT_DATA_DIR)`,
      spec.fileName,
    );
  }
  const target = path.join(targetDir, spec.fileName);
  const failures: string[] = [];
  for (const mirror of opts.mirrors) {
    const url = joinUrl(mirror, spec.fileName);
    try {
      const idx = await downloadTo(url, target, spec, rank, opts, { fs, path, crypto });
      return { idx, source: target };
    } catch (e) {
      if (e instanceof DatasetError && e.file === url) failures.push(e.message);
      else failures.push(`${url}: ${describeError(e)}`);
    }
  }
  throw new DatasetError(
    `${spec.fileName} of ${info.name} not found in ${searched}, and the download failed: ${failures.join('; ')}`,
    spec.fileName,
  );
}

async function downloadTo(
  url: string,
  target: string,
  spec: IdxFileInfo,
  rank: number,
  opts: NodeSourceOptions,
  { fs, path, crypto }: Awaited<ReturnType<typeof nodeFs>>,
): Promise<IdxArray> {
  const res = await fetch(url);
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`HTTP ${res.status} ${res.statusText}`);
  }
  await fs.mkdir(path.dirname(target), { recursive: true });
  // A hidden temporary name beside the target: rename is atomic within one folder.
  const tmp = `${target}.${crypto.randomUUID()}.part`;
  const handle = await fs.open(tmp, 'wx');
  let closed = false;
  try {
    const bytes = await readBody(res, spec.fileName, url, opts.onProgress, async (chunk) => {
      await handle.write(chunk);
    });
    await handle.sync();
    await handle.close();
    closed = true;
    const idx = await checkIdxFile(bytes, url, spec, rank, opts.verify);
    await fs.rename(tmp, target);
    return idx;
  } catch (e) {
    if (!closed) await handle.close().catch(() => undefined);
    await fs.rm(tmp, { force: true });
    throw e;
  }
}
