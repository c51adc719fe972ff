import { closeSync, existsSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { CliError } from './errors.js';
import { describeFsError, ensureWritableDir, writeFileAtomic } from './files.js';

/** The lock file that keeps two runs out of one output folder. */
export const LOCK_FILE = '.lopt.lock';

interface LockInfo {
  pid: number;
  host: string;
  command: string;
  started: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(path: string): LockInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
    return Number.isInteger(info?.pid) ? info : undefined;
  } catch {
    return undefined; // torn by a kill between create and write: treated as stale
  }
}

/**
 * Takes the lock of folder `abs` for this process (created exclusively, so of two runs
 * starting at once one wins). A lock whose process is gone (a killed run) is stale and
 * taken over, with `onStale` told. The lock is removed when the process exits.
 */
export function lockFolder(abs: string, shown: string, command: string, onStale: (msg: string) => void): () => void {
  const path = join(abs, LOCK_FILE);
  const mine: LockInfo = { pid: process.pid, host: hostname(), command, started: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) {
        throw new CliError(`cannot lock output folder '${shown}': ${describeFsError(e)}`);
      }
      const held = readLock(path);
      if (held && held.pid !== process.pid && (held.host !== mine.host || isAlive(held.pid))) {
        const where = held.host === mine.host ? `process ${held.pid}` : `process ${held.pid} on ${held.host}`;
        throw new CliError(
          `'${shown}' is in use by another run (${where}: lopt ${held.command}, started ${held.started}); wait for it to finish or choose another --out (if no such run exists, delete ${join(shown, LOCK_FILE)})`,
        );
      }
      onStale(
        held
          ? `'${shown}' was locked by process ${held.pid} (lopt ${held.command}), which is no longer running: taking the folder over`
          : `'${shown}' held an unreadable lock file: taking the folder over`,
      );
      rmSync(path, { force: true });
      continue;
    }
    writeSync(fd, `${JSON.stringify(mine)}\n`);
    closeSync(fd);
    break;
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    // Only our own lock: a folder taken over meanwhile keeps its owner's.
    if (readLock(path)?.pid === process.pid) rmSync(path, { force: true });
  };
  process.on('exit', release);
  return release;
}

/** How a command claims its output folder. */
export interface ClaimOptions {
  /** The folder as given (or the default). */
  dir: string;
  /** Whether `dir` is the command's default (not given by the user). */
  isDefault: boolean;
  /** The files this command writes there. */
  outputs: readonly string[];
  /** Overwrite earlier results (`--force`). */
  force: boolean;
  /** The command, for the lock file and messages. */
  command: string;
  /** Told about a stale lock taken over. */
  warn: (msg: string) => void;
  /**
   * Whether existing results are this run's to continue (`--resume` with a checkpoint):
   * given the files present, returns true to accept them.
   */
  continues?: (present: string[]) => boolean;
}

/** A claimed output folder. */
export interface ClaimedFolder {
  /** Absolute path. */
  abs: string;
  /** The folder as shown to the user. */
  shown: string;
  /** The earlier results found there (kept for `continues`, removed with `force`). */
  present: string[];
}

function resultsIn(abs: string, outputs: readonly string[]): string[] {
  return outputs.filter((f) => existsSync(join(abs, f)));
}

/**
 * Claims an output folder: creates it, locks it against other runs, and refuses it when
 * it holds results of another run, unless `force` (which removes those files first) or
 * `continues` accepts them. A default folder that is taken moves on to the next free
 * name (`<dir>-2`, `<dir>-3`, ...) instead, so nothing is lost and nothing is refused.
 */
export function claimOutputFolder(o: ClaimOptions): ClaimedFolder {
  for (let n = 1; ; n++) {
    const shown = n === 1 ? o.dir : `${o.dir}-${n}`;
    const abs = ensureWritableDir(shown);
    let release: () => void;
    try {
      release = lockFolder(abs, shown, o.command, o.warn);
    } catch (e) {
      if (o.isDefault && !o.force && e instanceof CliError && /in use by another run/.test(e.message)) continue;
      throw e;
    }
    const present = resultsIn(abs, o.outputs);
    if (present.length === 0 || o.continues?.(present)) return { abs, shown, present };
    if (o.force) {
      for (const f of present) {
        try {
          rmSync(join(abs, f), { force: true });
        } catch (e) {
          throw new CliError(`cannot remove '${join(shown, f)}' for --force: ${describeFsError(e)}`);
        }
      }
      return { abs, shown, present: [] };
    }
    release();
    if (o.isDefault) continue;
    throw new CliError(
      `'${shown}' already holds results of another run (${present.join(', ')}); choose another --out, or pass --force to replace them${o.continues ? ' (--resume continues a run from its checkpoint.json)' : ''}`,
    );
  }
}

/** Keeps the metrics lines of steps before `step` (a resumed run rewrites the rest). */
export function truncateMetrics(path: string, step: number): void {
  if (!existsSync(path)) return;
  const kept = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => {
      if (!l.trim()) return false;
      try {
        return (JSON.parse(l) as { step: number }).step < step;
      } catch {
        return false; // a line torn by a kill
      }
    });
  writeFileAtomic(path, kept.map((l) => `${l}\n`).join(''));
}

/** Files of a meta-training folder, whichever form of `meta-train` wrote it. */
export const RUN_FILES = {
  metrics: 'metrics.jsonl',
  checkpoint: 'checkpoint.json',
  theta: 'theta.json',
  config: 'run.json',
} as const;

/** The absolute paths of a meta-training folder's files. */
export type RunFilePaths = Record<keyof typeof RUN_FILES, string>;

/** How a `meta-train` run claims its `--out` folder. */
export interface RunFolderOptions {
  /** `--out` as given. */
  out: string;
  /** `--resume`: continue the run whose checkpoint is in `out`. */
  resume: boolean;
  /** `--force`: replace the results in `out`. */
  force: boolean;
  /** The command, for the lock file and messages. */
  command: string;
  /** Told about a stale lock taken over, or a `--resume` that finds no checkpoint. */
  warn: (msg: string) => void;
}

/**
 * Claims a meta-training folder: locked against other runs, another run's results
 * refused unless `force`, and with `resume` continued from its checkpoint (results
 * without one are refused: they are not this run's to extend).
 */
export function claimRunFolder(o: RunFolderOptions): { folder: ClaimedFolder; files: RunFilePaths } {
  const folder = claimOutputFolder({
    dir: o.out,
    isDefault: false,
    outputs: Object.values(RUN_FILES),
    force: o.force,
    command: o.command,
    warn: o.warn,
    continues: (present) => {
      if (!o.resume) return false;
      if (present.includes(RUN_FILES.checkpoint)) return true;
      throw new CliError(
        `cannot resume: '${o.out}' holds results (${present.join(', ')}) but no ${RUN_FILES.checkpoint} to continue from; pass --force to replace them, or choose another --out`,
      );
    },
  });
  const files = Object.fromEntries(Object.entries(RUN_FILES).map(([k, f]) => [k, join(folder.abs, f)])) as RunFilePaths;
  if (o.resume && !existsSync(files.checkpoint)) o.warn(`no checkpoint in '${o.out}': starting a fresh run`);
  return { folder, files };
}
