import { readFileSync } from 'node:fs';
import { type LearnedOptimizer, loadTheta } from '@lopt/learned';
import { CliError, oneLine } from './errors.js';
import { requireFile } from './files.js';

// Theta files are @lopt/learned's format (`serializeTheta` / `loadTheta`), so a library user
// reads what the command writes and the other way round.

function cleaned(e: unknown): string {
  return oneLine(e).replace(/^loadTheta: /, '');
}

/** The name of the learned optimizer a theta file was written for. */
export function thetaFileLopt(path: string): string {
  const abs = requireFile(path, 'theta file');
  let doc: { format?: unknown; learnedOptimizer?: unknown };
  try {
    doc = JSON.parse(readFileSync(abs, 'utf8')) as typeof doc;
  } catch {
    throw new CliError(`theta file '${path}' is not valid JSON (corrupt or truncated)`);
  }
  if (doc?.format !== 'lopt-theta' || typeof doc.learnedOptimizer !== 'string') {
    throw new CliError(`'${path}' is not a theta file (such as theta.json of \`lopt meta-train\`)`);
  }
  return doc.learnedOptimizer;
}

/**
 * Reads a theta for `lopt` from `path`: the file must exist, be a theta file of that
 * learned optimizer, and match its structure and shapes.
 */
export async function loadThetaFile<T>(path: string, lopt: LearnedOptimizer<T>): Promise<T> {
  requireFile(path, 'theta file');
  try {
    return await loadTheta(path, lopt);
  } catch (e) {
    throw new CliError(cleaned(e));
  }
}
