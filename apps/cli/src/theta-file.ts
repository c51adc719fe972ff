import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type LearnedOptimizer, loadTheta } from '@lopt/learned';
import { parseRecipe, recipeLearnedOptimizer } from '@lopt/outer-trainers';
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

/**
 * The learned optimizer a theta file was meta-trained as, when its folder says: a theta
 * written by `meta-train --recipe` (or `--distribution`) sits beside a `run.json` holding
 * the recipe, whose options (such as AdafacMLPLOpt's hidden size) a default-configured
 * optimizer would not match. Undefined when there is no such recipe (or it names another
 * learned optimizer).
 */
export function recipeOptimizerOfThetaFile(path: string, name: string): LearnedOptimizer | undefined {
  const run = join(dirname(path), 'run.json');
  if (!existsSync(run)) return undefined;
  let recipe: unknown;
  try {
    recipe = (JSON.parse(readFileSync(run, 'utf8')) as { recipe?: unknown }).recipe;
  } catch {
    return undefined; // a run.json of another kind of run, or a torn one: the default configuration applies
  }
  if (recipe === undefined) return undefined;
  try {
    const r = parseRecipe(recipe);
    return r.learnedOptimizer.name === name ? (recipeLearnedOptimizer(r) as LearnedOptimizer) : undefined;
  } catch (e) {
    throw new CliError(`the recipe in '${run}' (beside the theta file) is not valid: ${oneLine(e)}`);
  }
}
