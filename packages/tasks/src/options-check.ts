// Checks of plain option objects (as read from JSON), shared by the distributions and augmentations.

import { closestNames } from '@lopt/pytree';

/** The name of `names` closest to `name`, if it is a near miss, for "did you mean". */
export function closestName(name: string, names: readonly string[]): string | undefined {
  return closestNames(name, names, { limit: 1 })[0];
}

/** Throws when `obj` is not a plain object or has a key outside `allowed`, naming the key and the allowed ones. */
export function assertKnownKeys(
  obj: unknown,
  allowed: readonly string[],
  where: string,
): asserts obj is Record<string, unknown> {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new Error(`${where}: expected an object, got ${Array.isArray(obj) ? 'an array' : String(obj)}`);
  }
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) {
      const near = closestName(k, allowed);
      throw new Error(
        `${where}: unknown option '${k}'${near ? ` (did you mean '${near}'?)` : ''}; allowed: ${allowed.join(', ') || 'none'}`,
      );
    }
  }
}

/** A `[min, max]` pair of positive numbers with `min < max` (or `min <= max` when `allowEqual`). */
export function positiveRange(
  v: unknown,
  where: string,
  { integer = false, allowEqual = false } = {},
): [number, number] {
  const ok =
    Array.isArray(v) &&
    v.length === 2 &&
    v.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0 && (!integer || Number.isInteger(x))) &&
    (allowEqual ? v[0] <= v[1] : v[0] < v[1]);
  if (!ok) {
    const what = integer ? 'positive integers' : 'positive numbers';
    throw new Error(
      `${where}: expected [min, max] with ${what} and min ${allowEqual ? '<=' : '<'} max, got ${JSON.stringify(v)}`,
    );
  }
  return [v[0], v[1]] as [number, number];
}

/** A non-empty list of distinct non-negative integers. */
export function intChoices(v: unknown, where: string): number[] {
  if (
    !Array.isArray(v) ||
    v.length === 0 ||
    v.some((x) => !Number.isInteger(x) || x < 0) ||
    new Set(v).size !== v.length
  ) {
    throw new Error(`${where}: expected a non-empty list of distinct non-negative integers, got ${JSON.stringify(v)}`);
  }
  return v.slice() as number[];
}

/** A non-empty list of strings, each one of `allowed`. */
export function nameList<T extends string>(v: unknown, allowed: readonly T[], where: string): T[] {
  if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== 'string')) {
    throw new Error(`${where}: expected a non-empty list of names (${allowed.join(', ')}), got ${JSON.stringify(v)}`);
  }
  for (const x of v as string[]) {
    if (!(allowed as readonly string[]).includes(x)) {
      const near = closestName(x, allowed);
      throw new Error(
        `${where}: unknown name '${x}'${near ? ` (did you mean '${near}'?)` : ''}; allowed: ${allowed.join(', ')}`,
      );
    }
  }
  return v.slice() as T[];
}
