/**
 * The benchmark harness. Each ratio case runs lopt and its peer in alternating BLOCKS:
 * a block is many iterations of one side in a row (the side as its users run it, caches
 * warm), then a block of the other side, and so on; each pair of blocks gives one ratio,
 * and the case reports the median of those block ratios. Alternating single iterations
 * instead would make each side pay for the other's cache and scheduler disturbance (an
 * external peer process most of all). The block order flips every pair, so neither side
 * always runs first. These machines are noisy: only ratios measured side by side are
 * compared with goals.
 */

/** Milliseconds per iteration of a block of `iters` iterations, as measured by the side itself. */
export interface BlockRunner {
  block(iters: number): Promise<{ msPerIter: number; peakRssMb?: number }>;
}

/**
 * One side of a ratio case: a function running one iteration (timed by the harness, in
 * blocks), or a `BlockRunner` that times its own blocks (an external process).
 */
export type Side = (() => unknown) | BlockRunner;

/** A pair of sides to time against each other; `lopt / peer` is compared with `goalRatio`. */
export interface RatioCase {
  name: string;
  goal: string;
  goalRatio: number;
  peerName: string;
  /** Iterations per block of each side (default 50; `LOPT_BENCH_ITERS` overrides). */
  itersPerBlock?: number;
  /** Blocks of each side (default 5; `LOPT_BENCH_BLOCKS` overrides). */
  blocks?: number;
  /**
   * Iterations of each side's warm-up block, untimed (default: a block's, at most 5). Cases
   * whose steady state takes longer to reach (processes that compile as they go) set more.
   */
  warmupIters?: number;
  /**
   * Makes both sides. `note`, when given, is called after the blocks with the medians and
   * its text goes into the row (an arithmetic floor beside the goal, say).
   */
  setup(): Promise<{
    lopt: Side;
    peer: Side;
    dispose(): void | Promise<void>;
    note?: (medians: { loptMs: number; peerMs: number }) => string;
  }>;
  /** A remark for the verdict column, from the medians (e.g. the throughput a peer measured). */
  note?(medians: { loptMs: number; peerMs: number }): string;
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

/**
 * A result compared with its peer's by value rather than by time (e.g. the meta-loss a
 * distributed run reaches against single-process runs): the case computes both and says
 * whether the goal is met.
 */
export interface ComparisonCase {
  name: string;
  goal: string;
  compare(): Promise<{ lopt: string; peer: string; met: boolean; note?: string }>;
}

/** A benchmark case. */
export type BenchCase = RatioCase | SecondsCase | ComparisonCase;

/** One row of the results table. */
export interface BenchResult {
  name: string;
  lopt: string;
  peer: string;
  ratio: number | null;
  goal: string;
  verdict: 'met' | 'missed' | 'skipped' | 'error';
  /** Raw medians in milliseconds per iteration. */
  loptMs: number | null;
  peerMs: number | null;
  /** Peak resident memory (MB) of the process running each side, sampled during its blocks. */
  loptPeakMb: number | null;
  peerPeakMb: number | null;
  /** The block protocol used: blocks x iterations per block, a side. */
  protocol?: string;
  /** What `ratio` divides (default: the median of the block ratios, lopt / peer). */
  ratioOf?: string;
  note?: string;
}

/** The median of a list of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const envInt = (name: string): number | undefined => {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got '${v}'`);
  return n;
};

const rssMb = () => process.memoryUsage().rss / 2 ** 20;

/** Runs `iters` iterations of `side` in a row; ms per iteration and the peak RSS seen. */
async function runBlock(side: Side, iters: number): Promise<{ msPerIter: number; peakRssMb: number }> {
  if (typeof side !== 'function') {
    const r = await side.block(iters);
    return { msPerIter: r.msPerIter, peakRssMb: r.peakRssMb ?? Number.NaN };
  }
  let peak = rssMb();
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) {
    await side();
    // Sampling is cheap (one syscall) next to the iterations measured here.
    if ((i & 7) === 7) peak = Math.max(peak, rssMb());
  }
  const ms = (performance.now() - t0) / iters;
  return { msPerIter: ms, peakRssMb: Math.max(peak, rssMb()) };
}

const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(2)} ms`);
/** A peak memory figure for the table. */
export const fmtMb = (mb: number | null) => (mb === null || Number.isNaN(mb) ? '-' : `${mb.toFixed(0)} MB`);

/** Runs one case and returns its row. */
export async function runCase(c: BenchCase): Promise<BenchResult> {
  if ('compare' in c) {
    const r = await c.compare();
    return {
      name: c.name,
      lopt: r.lopt,
      peer: r.peer,
      ratio: null,
      goal: c.goal,
      verdict: r.met ? 'met' : 'missed',
      loptMs: null,
      peerMs: null,
      loptPeakMb: rssMb(),
      peerPeakMb: null,
      ...(r.note ? { note: r.note } : {}),
    };
  }
  if ('run' in c) {
    const times: number[] = [];
    let peak = rssMb();
    for (let i = 0; i < (c.reps ?? 3); i++) {
      const t0 = performance.now();
      await c.run();
      times.push(performance.now() - t0);
      peak = Math.max(peak, rssMb());
    }
    const ms = median(times);
    return {
      name: c.name,
      lopt: fmt(ms),
      peer: '-',
      // Against an absolute goal the ratio is the time over the goal (<= 1 meets it).
      ratio: ms / 1000 / c.goalSeconds,
      ratioOf: 'time / goal',
      goal: c.goal,
      verdict: ms / 1000 <= c.goalSeconds ? 'met' : 'missed',
      loptMs: ms,
      peerMs: null,
      loptPeakMb: peak,
      peerPeakMb: null,
    };
  }
  const iters = envInt('LOPT_BENCH_ITERS') ?? c.itersPerBlock ?? 50;
  const blocks = envInt('LOPT_BENCH_BLOCKS') ?? c.blocks ?? 5;
  const { lopt, peer, dispose, note } = await c.setup();
  try {
    // Warm-up: one untimed block a side (compilation, caches, allocator growth).
    const warm = c.warmupIters ?? Math.max(1, Math.min(5, iters));
    await runBlock(lopt, warm);
    await runBlock(peer, warm);
    const a: number[] = [];
    const b: number[] = [];
    const ratios: number[] = [];
    let loptPeak = 0;
    let peerPeak = 0;
    for (let i = 0; i < blocks; i++) {
      // Alternate which side opens the pair, so neither always follows the other.
      const first = i % 2 === 0 ? 'lopt' : 'peer';
      const x = first === 'lopt' ? await runBlock(lopt, iters) : await runBlock(peer, iters);
      const y = first === 'lopt' ? await runBlock(peer, iters) : await runBlock(lopt, iters);
      const [ra, rb] = first === 'lopt' ? [x, y] : [y, x];
      a.push(ra.msPerIter);
      b.push(rb.msPerIter);
      ratios.push(ra.msPerIter / rb.msPerIter);
      loptPeak = Math.max(loptPeak, ra.peakRssMb);
      peerPeak = Math.max(peerPeak, rb.peakRssMb);
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
      loptPeakMb: loptPeak,
      peerPeakMb: Number.isNaN(peerPeak) ? null : peerPeak,
      protocol: `${blocks} x ${iters}`,
      ...(note
        ? { note: note({ loptMs: median(a), peerMs: median(b) }) }
        : c.note
          ? { note: c.note({ loptMs: median(a), peerMs: median(b) }) }
          : {}),
    };
  } finally {
    await dispose();
  }
}
