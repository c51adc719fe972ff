import { InvalidArgumentError } from 'commander';

// Plain decimal notation only: Number() would also read '0x10' as 16, '0b1' as 1 and ''
// as 0, so a typo would run silently with another value.
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function decimal(value: string, what: string): number {
  const v = value.trim();
  if (!DECIMAL.test(v))
    throw new InvalidArgumentError(`'${value}' is not ${what} (write it in decimal, such as 0.01 or 1e-3).`);
  return Number(v);
}

/** A commander argument parser for a positive integer. */
export function positiveInt(value: string): number {
  const n = decimal(value, 'a positive integer');
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`'${value}' is not a positive integer.`);
  return n;
}

/** A commander argument parser for a non-negative integer. */
export function nonNegativeInt(value: string): number {
  const n = decimal(value, 'a non-negative integer');
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`'${value}' is not a non-negative integer.`);
  return n;
}

/** The largest seed: every PRNG key derives from `PRNGKey(seed)`, which takes safe integers. */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

/** A commander argument parser for a seed: an integer from 0 to 2^53 - 1. */
export function seed(value: string): number {
  const n = decimal(value, 'a seed (an integer from 0 to 9007199254740991)');
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`'${value}' is not a non-negative integer seed.`);
  if (n > MAX_SEED) {
    throw new InvalidArgumentError(
      `'${value}' is too large for a seed: give an integer from 0 to ${MAX_SEED} (2^53 - 1).`,
    );
  }
  return n;
}

/** A commander argument parser for a positive finite number. */
export function positiveNumber(value: string): number {
  const n = decimal(value, 'a positive number');
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`'${value}' is not a positive number.`);
  return n;
}

/** A commander argument parser for a comma-separated list (repeatable options collect). */
export function commaList(value: string, previous: string[] | undefined): string[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  return [...(previous ?? []), ...items];
}
