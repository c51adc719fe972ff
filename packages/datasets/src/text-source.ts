import { DatasetError } from './errors.js';
import { maybeGunzip } from './gunzip.js';
import { describeError } from './progress.js';
import { sha256Hex } from './sha256.js';
import type { TextCorpusInfo } from './text-corpus.js';

/** Where the loader looks for a corpus's file, in order. */
export interface TextSourceOptions {
  /** Searched first. */
  dataDir: string | undefined;
  /** The corpus's folder in the cache root; searched second. */
  cacheDir: string | undefined;
  /** System folders searched last (Debian's package). */
  systemDirs: readonly string[];
  /** Check the SHA-256 of the unpacked text. */
  verify: boolean;
}

const FS = 'node:fs/promises';
const PATH = 'node:path';

// Unpacked, checked texts by corpus and file: a corpus is read once per process.
const cache = new Map<string, Uint8Array>();

/** Forgets the texts read so far (the next load reads the file again). */
export function clearTextCache(): void {
  cache.clear();
}

/**
 * Unpacks (when gzip) and, when `verify` is on, checks the SHA-256 of a corpus's bytes.
 * Every failure is a {@link DatasetError} naming `file`.
 */
export async function checkTextFile(
  bytes: Uint8Array,
  file: string,
  info: TextCorpusInfo,
  verify: boolean,
): Promise<Uint8Array> {
  const text = maybeGunzip(bytes, file);
  if (verify) {
    const sum = await sha256Hex(text);
    if (sum !== info.sha256) {
      throw new DatasetError(
        `${file}: wrong SHA-256 of the unpacked text (${sum}, expected ${info.sha256}): the file is corrupt or not ${info.title}; pass verify: false to use a different text on purpose`,
        file,
      );
    }
  }
  return text;
}

/**
 * The corpus's text, from the first folder holding its file (the `.gz` name, then the
 * plain name). A file that is found but fails its check is an error, never skipped. In
 * a browser there are no folders: pass the bytes (`bytes` option of `textDatasets`).
 */
export async function loadTextCorpus(
  info: TextCorpusInfo,
  opts: TextSourceOptions,
): Promise<{ text: Uint8Array; source: string }> {
  if (typeof process === 'undefined' || !process.versions?.node) {
    throw new DatasetError(
      `${info.name}: no file system here; fetch ${info.fileName} yourself and pass its contents as the bytes option`,
    );
  }
  const [fs, path] = await Promise.all([
    import(/* @vite-ignore */ FS) as Promise<typeof import('node:fs/promises')>,
    import(/* @vite-ignore */ PATH) as Promise<typeof import('node:path')>,
  ]);
  const dirs = [opts.dataDir, opts.cacheDir, ...opts.systemDirs].filter((d): d is string => !!d);
  const plain = info.fileName.replace(/\.gz$/, '');
  for (const dir of dirs) {
    for (const name of [info.fileName, plain]) {
      const file = path.join(dir, name);
      const hit = cache.get(`${opts.verify}:${file}`);
      if (hit) return { text: hit, source: file };
      let bytes: Uint8Array;
      try {
        bytes = await fs.readFile(file);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') continue;
        throw new DatasetError(`${file}: cannot be read (${describeError(e)})`, file, { cause: e });
      }
      const text = await checkTextFile(new Uint8Array(bytes), file, info, opts.verify);
      cache.set(`${opts.verify}:${file}`, text);
      return { text, source: file };
    }
  }
  throw new DatasetError(
    `${info.fileName} of ${info.name} not found in ${dirs.length ? dirs.join(', ') : '(no folder)'}: install Debian's ${info.debianPackage} package (apt-get install ${info.debianPackage}), or put ${info.fileName} (or ${plain}) into $LOPT_DATA_DIR/${info.dirName}/ or the dataDir option's folder`,
    info.fileName,
  );
}
