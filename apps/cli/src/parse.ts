import { InvalidArgumentError } from 'commander';

/** A commander argument parser for a positive integer. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n <= 0) {
    throw new InvalidArgumentError(`'${value}' is not a positive integer.`);
  }
  return n;
}

/** A commander argument parser for a non-negative integer. */
export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0) {
    throw new InvalidArgumentError(`'${value}' is not a non-negative integer.`);
  }
  return n;
}

/** A commander argument parser for a positive finite number. */
export function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError(`'${value}' is not a positive number.`);
  }
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
