// Child processes for the fault tests: fixtures run under tsx, their output collected
// line by line, waited on with deadlines, and always killed at the end.
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** A fixture process and what it printed. */
export interface Proc {
  child: ChildProcess;
  lines: string[];
  /** Resolves with the first line matching `re` (already printed or to come); rejects after `ms`. */
  waitFor(re: RegExp, ms: number): Promise<string>;
  /** Resolves with the exit code (or signal) once the process ended; rejects after `ms`. */
  exited(ms: number): Promise<number | string>;
  /** The process's output, for failure messages. */
  output(): string;
}

const all = new Set<ChildProcess>();

/** Starts `fixture` (a file beside this one) with `args`. */
export function startFixture(fixture: string, args: string[]): Proc {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@lopt/source', join(here, fixture), ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env },
    },
  );
  all.add(child);
  const lines: string[] = [];
  let errText = '';
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  let buf = '';
  child.stdout!.on('data', (b: Buffer) => {
    buf += b.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    for (const l of parts) {
      lines.push(l);
      for (const w of [...waiters]) {
        if (w.re.test(l)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(l);
        }
      }
    }
  });
  child.stderr!.on('data', (b: Buffer) => {
    errText += b.toString();
  });
  let exitValue: number | string | undefined;
  const exitWaiters: ((v: number | string) => void)[] = [];
  child.on('exit', (code, signal) => {
    all.delete(child);
    exitValue = code ?? signal ?? -1;
    for (const w of exitWaiters) w(exitValue);
  });
  const output = () =>
    `${fixture} ${args.join(' ')}\n--- stdout ---\n${lines.join('\n')}\n--- stderr ---\n${errText.slice(-3000)}`;
  return {
    child,
    lines,
    output,
    waitFor(re, ms) {
      const hit = lines.find((l) => re.test(l));
      if (hit !== undefined) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no line matching ${re} within ${ms} ms from ${output()}`)),
          ms,
        );
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
      });
    },
    exited(ms) {
      if (exitValue !== undefined) return Promise.resolve(exitValue);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`did not exit within ${ms} ms: ${output()}`)), ms);
        exitWaiters.push((v) => {
          clearTimeout(timer);
          resolve(v);
        });
      });
    },
  };
}

/** Kills every fixture process still running (SIGKILL). */
export function killAll(): void {
  for (const c of all) c.kill('SIGKILL');
  all.clear();
}
