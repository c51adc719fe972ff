import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** What to do when `redis-server` is missing. */
export const REDIS_INSTALL_HINT =
  'install it with `apt-get install redis-server` (Debian, Ubuntu; `brew install redis` on macOS), or pass the URL of a running server';

/** The path of the `redis-server` executable: `bin` when given, else the first on `PATH`; `undefined` when there is none. */
export function findRedisServer(bin?: string): string | undefined {
  const isExe = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (bin !== undefined) return bin.includes('/') ? (isExe(bin) ? bin : undefined) : findRedisServerOnPath(bin, isExe);
  return findRedisServerOnPath('redis-server', isExe);
}

function findRedisServerOnPath(name: string, isExe: (p: string) => boolean): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const d of dirs) {
    const p = join(d, name);
    if (isExe(p)) return p;
  }
  return undefined;
}

/** A free TCP port on 127.0.0.1 (the operating system's pick). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Options of `startRedisServer`. */
export interface StartRedisServerOptions {
  /** The port to listen on (default: a free one). */
  port?: number;
  /** The `redis-server` executable (default: the one on `PATH`). */
  bin?: string;
  /** How long to wait for the server to accept connections (default 10 s). */
  timeoutMs?: number;
}

/** A `redis-server` process started on loopback by `startRedisServer`. */
export interface LocalRedisServer {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** The server's process id (changes with `restart`). */
  readonly pid: number;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  stop(): Promise<void>;
  /** Kills the server with SIGKILL, as a crash would, and waits for it to exit. */
  kill(): Promise<void>;
  /** Starts the server again on the same port (after `stop` or `kill`); its data is gone. */
  restart(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHook = false;

function launch(exe: string, port: number, timeoutMs: number): Promise<ChildProcess> {
  // Loopback only, no persistence: the server holds one run's queues and nothing else.
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    tmpdir(),
    '--daemonize',
    'no',
  ];
  const child = spawn(exe, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`redis-server on port ${port} did not start within ${timeoutMs} ms: ${output.trim().slice(-500)}`),
      );
    }, timeoutMs);
    const onData = (b: Buffer) => {
      output += b.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        child.stderr?.resume();
        resolve(child);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (b: Buffer) => {
      output += b.toString();
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      live.delete(child);
      reject(new Error(`cannot run redis-server (${exe}): ${e.message}; ${REDIS_INSTALL_HINT}`));
    });
    child.on('exit', (code, signal) => {
      live.delete(child);
      clearTimeout(timer);
      reject(
        new Error(
          `redis-server on port ${port} exited (${signal ?? `code ${code}`}) before accepting connections: ${output.trim().slice(-500)}`,
        ),
      );
    });
  });
}

function waitExit(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(force);
      live.delete(child);
      resolve();
    });
    child.kill(signal);
  });
}

/**
 * Starts a `redis-server` on 127.0.0.1 (a free port unless `port` is given) with
 * persistence off, for a local meta-training run or a test. A missing `redis-server` is
 * an error saying how to install it.
 */
export async function startRedisServer(opts: StartRedisServerOptions = {}): Promise<LocalRedisServer> {
  const exe = findRedisServer(opts.bin);
  if (exe === undefined) {
    throw new Error(
      `redis-server was not found${opts.bin ? ` (looked for '${opts.bin}')` : ' on PATH'}; ${REDIS_INSTALL_HINT}`,
    );
  }
  const timeoutMs = opts.timeoutMs ?? 10_000;
  let port = opts.port ?? (await freePort());
  let child: ChildProcess;
  try {
    child = await launch(exe, port, timeoutMs);
  } catch (e) {
    // Another process may have taken the free port between the pick and the bind: once more on a new one.
    if (opts.port !== undefined) throw e;
    port = await freePort();
    child = await launch(exe, port, timeoutMs);
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return child.pid ?? -1;
    },
    stop: () => waitExit(child, 'SIGTERM'),
    kill: () => waitExit(child, 'SIGKILL'),
    restart: async () => {
      await waitExit(child, 'SIGTERM');
      child = await launch(exe, port, timeoutMs);
    },
  };
}
