import { setupBackend } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { Command } from 'commander';
import { CliError, oneLine } from './errors.js';
import { type GlobalOptions, Output } from './output.js';

/** The global flags of `cmd` (given before or after the command name). */
export function globalsOf(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals() as Partial<GlobalOptions>;
  return {
    backend: o.backend,
    seed: o.seed ?? 0,
    dataDir: o.dataDir,
    download: o.download !== false,
    quiet: Boolean(o.quiet),
    json: Boolean(o.json),
  };
}

/** Loads the tfjs backend the flags ask for; an unavailable one is a one-line error. */
export async function startBackend(g: GlobalOptions): Promise<string> {
  // Production mode: tfjs's console notes (such as its advice to install the native
  // backend on the cpu backend) would break the one-line and JSON-lines outputs.
  tf.env().set('PROD', true);
  try {
    return await setupBackend(g.backend);
  } catch (e) {
    throw new CliError(oneLine(e));
  }
}

/** The output of a command and its loaded backend. */
export async function start(
  cmd: Command,
  withBackend = true,
): Promise<{ g: GlobalOptions; out: Output; backend?: string }> {
  const g = globalsOf(cmd);
  const out = new Output(g);
  const backend = withBackend ? await startBackend(g) : undefined;
  return { g, out, backend };
}
