/**
 * The benchmark harness: each case runs lopt and its peer in the same process, one right
 * after the other, several times, and reports medians and their ratio. These machines are
 * noisy, so only ratios measured side by side are compared with goals.
 */

/** A pair of functions to time against each other; `lopt / peer` is compared with `goalRatio`. */
export interface RatioCase {
  name: string;
  goal: string;
  goalRatio: number;
  peerName: string;
  /** Repetitions of each side (default 15). */
  reps?: number;
  setup(): Promise<{ lopt(): unknown; peer(): unknown; dispose(): void }>;
}

/** A single timed run compared with an absolute goal in seconds. */
export interface SecondsCase {
  name: string;
  goal: string;
  goalSeconds: number;
  /** Repetitions (default 3). */
  reps?: number;
  run(): Promise<unknown> | unknown;
}

/** A benchmark case. */
export type BenchCase = RatioCase | SecondsCase;

/** One row of the results table. */
export interface BenchResult {
  name: string;
  lopt: string;
  peer: string;
  ratio: number | null;
  goal: string;
  verdict: 'met' | 'missed' | 'skipped' | 'error';
  /** Raw medians in milliseconds. */
  loptMs: number | null;
  peerMs: number | null;
  note?: string;
}

/** The median of a list of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Times one call. A function that measures itself (an external process such as the
 * PyTorch peer) returns `{ ms }`, which is used instead of the wall time of the call.
 */
async function time(fn: () => unknown): Promise<number> {
  const t0 = performance.now();
  const out = await fn();
  const elapsed = performance.now() - t0;
  if (out && typeof out === 'object' && 'ms' in out && typeof out.ms === 'number') return out.ms;
  return elapsed;
}

const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(2)} ms`);

/** Runs one case and returns its row. */
export async function runCase(c: BenchCase): Promise<BenchResult> {
  if ('run' in c) {
    const times: number[] = [];
    for (let i = 0; i < (c.reps ?? 3); i++) times.push(await time(() => c.run()));
    const ms = median(times);
    return {
      name: c.name,
      lopt: fmt(ms),
      peer: '-',
      ratio: null,
      goal: c.goal,
      verdict: ms / 1000 <= c.goalSeconds ? 'met' : 'missed',
      loptMs: ms,
      peerMs: null,
    };
  }
  const { lopt, peer, dispose } = await c.setup();
  try {
    for (let i = 0; i < 3; i++) {
      await lopt();
      await peer();
    }
    const a: number[] = [];
    const b: number[] = [];
    const ratios: number[] = [];
    for (let i = 0; i < (c.reps ?? 15); i++) {
      const ta = await time(lopt);
      const tb = await time(peer);
      a.push(ta);
      b.push(tb);
      ratios.push(ta / tb);
    }
    const ratio = median(ratios);
    return {
      name: c.name,
      lopt: fmt(median(a)),
      peer: `${fmt(median(b))} (${c.peerName})`,
      ratio,
      goal: c.goal,
      verdict: ratio <= c.goalRatio ? 'met' : 'missed',
      loptMs: median(a),
      peerMs: median(b),
    };
  } finally {
    dispose();
  }
}
