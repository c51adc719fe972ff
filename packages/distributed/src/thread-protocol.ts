import type { Metrics, OuterState, UnrollInfo } from '@lopt/outer-trainers';

/** A request to an estimator thread (internal). */
export interface ThreadRequest {
  /** Number of the request (replies carry it). */
  id: number;
  /** `init`: the shard's first state; `estimate`: one estimate from `state`. */
  kind: 'init' | 'estimate';
  /** Packed theta. */
  theta: unknown;
  /** The outer state of the worker weights. */
  outerState: OuterState;
  /** The key, as two uint32 words. */
  key: number[];
  /** The shard's packed state (`estimate`). */
  state?: unknown;
  /** Passed to the estimator (`estimate`). */
  withSummary?: boolean;
}

/** A reply of an estimator thread (internal): `id` 0 answers the build, -1 is an error outside any request. */
export type ThreadReply =
  | { id: number; ok: false; error: string }
  | {
      id: number;
      ok: true;
      state?: unknown;
      meanLoss?: number;
      grad?: unknown;
      unrollInfo?: UnrollInfo;
      metrics?: Metrics;
      computeSeconds?: number;
    };
