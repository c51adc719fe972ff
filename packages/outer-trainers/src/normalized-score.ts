/**
 * The normalised score of a final loss: `(initial - loss) / (initial - reference)`, where
 * `initial` is the mean loss before training (the same initial parameters for every
 * optimizer, since they derive from the seed) and `reference` is the final loss of the
 * best Adam of a learning-rate grid on the same task, split, steps and seeds. 1 matches
 * that Adam, 0 is no progress, above 1 beats it, below 0 ends worse than it started.
 * It puts tasks whose losses have different scales on one axis, as the reference's
 * normalisers built from Adam learning-rate sweeps do. A non-finite `loss` (a diverged
 * run) scores `-Infinity`; a reference that made no progress (`reference >= initial`)
 * is an error, since no score can be defined against it.
 */
export function normalizedScore(loss: number, initial: number, reference: number): number {
  if (!Number.isFinite(initial) || !Number.isFinite(reference)) {
    throw new Error(`normalizedScore: initial (${initial}) and reference (${reference}) losses must be finite`);
  }
  if (!(reference < initial)) {
    throw new Error(
      `normalizedScore: the reference loss (${reference}) is not below the initial loss (${initial}); the baseline made no progress, so scores are undefined (train longer or widen the learning-rate grid)`,
    );
  }
  if (!Number.isFinite(loss)) return Number.NEGATIVE_INFINITY;
  return (initial - loss) / (initial - reference);
}
