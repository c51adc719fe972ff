/**
 * Draws the next batch of split `split` from a task's datasets (`datasets[split].next()`),
 * or `undefined` for tasks without data.
 */
export function nextBatch<D>(datasets: unknown, split: string, owner: string): D {
  if (datasets === undefined || datasets === null) return undefined as D;
  const it = (datasets as Record<string, unknown>)[split];
  if (!it || typeof (it as { next?: unknown }).next !== 'function') {
    const have = Object.keys(datasets as object).join(', ');
    throw new Error(`${owner}: the task data has no split '${split}' (it has: ${have})`);
  }
  const res = (it as Iterator<D>).next();
  if (res.done) throw new Error(`${owner}: the '${split}' data stream is exhausted`);
  return res.value;
}
