import type { DatasetInfo, IdxFileInfo } from './catalog.js';
import { checkIdxFile } from './check-file.js';
import { DatasetError } from './errors.js';
import type { IdxArray } from './idx.js';
import { describeError, joinUrl, type ProgressCallback, readBody } from './progress.js';

/**
 * Fetches one file from the first base URL that serves it (the browser path: nothing is
 * written anywhere) and checks it.
 */
export async function loadFileFetch(
  info: DatasetInfo,
  spec: IdxFileInfo,
  rank: number,
  baseUrls: readonly string[],
  onProgress: ProgressCallback | undefined,
  verify: boolean,
): Promise<{ idx: IdxArray; source: string }> {
  const failures: string[] = [];
  for (const base of baseUrls) {
    const url = joinUrl(base, spec.fileName);
    let bytes: Uint8Array;
    try {
      const res = await fetch(url);
      if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
      bytes = await readBody(res, spec.fileName, url, onProgress);
    } catch (e) {
      failures.push(`${url}: ${describeError(e)}`);
      continue;
    }
    return { idx: await checkIdxFile(bytes, url, spec, rank, verify), source: url };
  }
  throw new DatasetError(
    `${spec.fileName} of ${info.name} could not be fetched: ${failures.join('; ')}`,
    spec.fileName,
  );
}
