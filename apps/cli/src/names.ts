import { closestNames as nearNames } from '@lopt/pytree';
import { CliError } from './errors.js';

/** Up to `n` of `names` closest to `name` (case-insensitive edit distance, then alphabetical). */
export function closestNames(name: string, names: readonly string[], n = 3): string[] {
  return nearNames(name, names, { limit: n, maxDistance: Number.POSITIVE_INFINITY });
}

/** The error for an unknown `kind` name, suggesting the closest known names. */
export function unknownName(kind: string, name: string, names: readonly string[], listCommand: string): CliError {
  const near = closestNames(name, names);
  const hint = near.length > 0 ? ` Did you mean ${near.map((s) => `'${s}'`).join(', ')}?` : '';
  return new CliError(`unknown ${kind} '${name}'.${hint} (\`${listCommand}\` lists them all)`);
}

/** `name` itself when known, else the one known name equal to it ignoring case, else `undefined`. */
export function resolveName(name: string, names: readonly string[]): string | undefined {
  if (names.includes(name)) return name;
  const same = names.filter((n) => n.toLowerCase() === name.toLowerCase());
  return same.length === 1 ? same[0] : undefined;
}
