import { type PRNGKey, type PyTree, random, treeLeaves } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';

/** The tensor leaves of any value (pytrees with non-tensor leaves included). */
export function tensorLeaves(tree: unknown): tf.Tensor[] {
  return treeLeaves(tree as PyTree<unknown>).filter((x): x is tf.Tensor => x instanceof tf.Tensor);
}

/**
 * Disposes the tensors of `tree` that none of `keep` holds. States share tensors (a
 * pass-through field, an antithetic pair started from one state), so freeing an old
 * state must spare what the new one still uses.
 */
export function disposeExcept(tree: unknown, ...keep: unknown[]): void {
  const ids = new Set<number>();
  for (const k of keep) for (const t of tensorLeaves(k)) ids.add(t.id);
  for (const t of tensorLeaves(tree)) if (!ids.has(t.id) && !t.isDisposed) t.dispose();
}

/** A stream of keys split off one key (as haiku's `PRNGSequence`). */
export class KeySequence {
  private key: PRNGKey;

  constructor(key: PRNGKey) {
    this.key = key;
  }

  /** The next key of the stream. */
  next(): PRNGKey {
    const [a, b] = random.split(this.key);
    this.key = a!;
    return b!;
  }
}

/** Throws when a value is not a positive integer. */
export function checkPositiveInt(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`${what} must be a positive integer, got ${n}`);
}
