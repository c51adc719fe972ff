import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { expect } from 'vitest';

/** The package folder and the built command. */
export const PKG = fileURLToPath(new URL('..', import.meta.url));
export const CLI = join(PKG, 'dist', 'index.js');

/** Builds dist/ when missing or stale (the tests spawn the built command, as a user runs it). */
export function ensureBuilt(): void {
  execFileSync(process.execPath, [join(PKG, 'scripts', 'ensure-built.mjs')], { stdio: 'inherit' });
  if (!existsSync(CLI)) throw new Error(`no ${CLI} after the build`);
}

/** The environment of a spawned command: real data from LOPT_DATA_DIR, wasm unless told. */
export function cliEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.LOPT_DEBUG;
  return env;
}

/** The result of one run of the command. */
export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `lopt ...args` to completion. */
export function lopt(...args: string[]): Run {
  return loptWithEnv(cliEnv(), ...args);
}

/** Runs `lopt ...args` to completion in the environment `env`. */
export function loptWithEnv(env: NodeJS.ProcessEnv, ...args: string[]): Run {
  // Under the tests' own time limit (600 s), so a hung command fails with its output.
  const r = spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8', timeout: 590_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts `lopt ...args` in the background. */
export function lopt$(...args: string[]): ChildProcess & { out: () => string; err: () => string } {
  const child = spawn(process.execPath, [CLI, ...args], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    err += d;
  });
  return Object.assign(child, { out: () => out, err: () => err });
}

/** Resolves with the exit code (or signal) of `child`. */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) res({ code: child.exitCode, signal: child.signalCode });
    else child.on('exit', (code, signal) => res({ code, signal }));
  });
}

/** Polls `cond` every 50 ms until it holds (or throws after `ms`, a hang guard generous for a loaded machine). */
export async function waitFor(cond: () => boolean, ms = 300_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('waitFor: timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A fresh temporary folder. */
export function tmp(prefix = 'lopt-cli-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** The JSON lines of a file or text. */
export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * The JSON lines a running command has finished writing to `path` (none while it does not
 * exist): a line still being appended, not yet ended by its newline, is left out, so polling
 * never reads half a line.
 */
export function jsonLinesSoFar(path: string): Record<string, unknown>[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  return jsonLines(text.slice(0, text.lastIndexOf('\n') + 1));
}

/** Width and height of a PNG from its IHDR chunk, after checking the signature. */
export function pngSize(path: string): { width: number; height: number } {
  const b = readFileSync(path);
  expect([...b.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  expect(b.subarray(12, 16).toString('ascii')).toBe('IHDR');
  expect(b.readUInt32BE(8)).toBe(13);
  expect(b.subarray(b.length - 8, b.length - 4).toString('ascii')).toBe('IEND');
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

/** Parses an SVG file (well-formed XML with an <svg> root); returns its width and height. */
export function svgSize(path: string): { width: number; height: number; text: string } {
  const text = readFileSync(path, 'utf8');
  expect(XMLValidator.validate(text)).toBe(true);
  const doc = new XMLParser({ ignoreAttributes: false }).parse(text) as { svg?: Record<string, string> };
  expect(doc.svg).toBeDefined();
  return { width: Number(doc.svg!['@_width']), height: Number(doc.svg!['@_height']), text };
}

/** Asserts a run failed with exactly one line on stderr, no stack trace, and returns that line. */
export function expectOneLineError(r: Run): string {
  expect(r.code, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).not.toBe(0);
  expect(r.code).not.toBeNull();
  const lines = r.stderr.split('\n').filter((l) => l.trim());
  expect(lines, r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  return lines[0]!;
}
