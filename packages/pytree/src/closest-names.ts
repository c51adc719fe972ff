// "Did you mean" for every lopt package: option keys, registered names, recipe fields and
// the CLI's arguments all suggest names the same way. It lives here, beside the pytree
// path errors, because this is the one package every other lopt package imports.

/** Levenshtein distance between `a` and `b` (insertions, deletions and substitutions). */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** Options of {@link closestNames}. */
export interface ClosestNamesOptions {
  /** At most this many names; default 3. */
  limit?: number;
  /**
   * Only names at most this far from the query; default `max(2, floor(length / 3))` of the
   * query, near misses only. `Infinity` ranks every name.
   */
  maxDistance?: number;
}

/**
 * The names of `names` closest to `name`, closest first (ties alphabetical), for an error's
 * "did you mean". Case is ignored, and a name containing the query counts as a near miss
 * (distance at most 1), so `fashion` finds the Fashion-MNIST tasks.
 */
export function closestNames(name: string, names: readonly string[], options: ClosestNamesOptions = {}): string[] {
  const { limit = 3, maxDistance = Math.max(2, Math.floor(name.length / 3)) } = options;
  const q = name.toLowerCase();
  return names
    .map((s) => {
      const l = s.toLowerCase();
      const d = editDistance(q, l);
      return { s, d: q.length > 0 && l.includes(q) ? Math.min(d, 1) : d };
    })
    .filter((x) => x.d <= maxDistance)
    .sort((a, b) => a.d - b.d || a.s.localeCompare(b.s))
    .slice(0, limit)
    .map((x) => x.s);
}
