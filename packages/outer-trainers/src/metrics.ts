import type { Metrics } from './gradient-estimator.js';

/** One outer step's record, as written to a metrics JSON-lines file. */
export interface OuterStepRecord {
  /** The outer iteration the step started from. */
  step: number;
  /** The step's mean meta-loss. */
  loss: number;
  /** The step's metrics (gradient norm, unroll lengths, time, per-family values). */
  metrics: Metrics;
  /** Wall-clock time of the record, ISO 8601. */
  time: string;
}

/** One JSON line for an outer step (non-finite numbers become strings, which JSON lacks). */
export function metricsLine(record: OuterStepRecord): string {
  return `${JSON.stringify(record, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v))}\n`;
}

/** Parses a JSON-lines metrics file back into records. */
export function parseMetricsLines(text: string): OuterStepRecord[] {
  return text
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .map((l) => JSON.parse(l) as OuterStepRecord);
}
