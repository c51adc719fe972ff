import { type PRNGKey, random } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { OuterState } from './outer-state.js';

/** A number, or a schedule of the outer iteration (as the reference's `ScalarSchedule`). */
export type ScalarSchedule = number | ((outerIteration: number, maxSteps?: number) => number);

/** Truncation state of the schedules that stop after a length: plain data. */
export interface ConstantTruncationState {
  /** The number of inner steps of this truncation. */
  length: number;
}

/**
 * How long an inner problem is unrolled before it is reset (learned_optimization's
 * `TruncationSchedule`). Schedules are stateless objects; their state is plain data
 * (numbers), so it can be stored, copied and checkpointed as it is.
 */
export abstract class TruncationSchedule<S = unknown> {
  /** The state of a fresh truncation. */
  abstract init(key: PRNGKey, outerState?: OuterState): S;

  /**
   * The state after inner step `step` and whether the truncation is done; a schedule
   * that draws lengths draws a new one when the truncation ends.
   */
  abstract nextState(state: S, step: number, key: PRNGKey, outerState?: OuterState): [S, boolean];

  /** The schedule's name, as the reference names it. */
  get name(): string {
    return this.constructor.name;
  }
}

function resolve(s: ScalarSchedule, outerState: OuterState | undefined, maxSteps?: number): number {
  return typeof s === 'number' ? s : s(outerState?.outerIteration ?? 0, maxSteps);
}

function checkLength(n: number, what: string): void {
  if (!Number.isFinite(n) || n < 1) throw new Error(`${what}: a truncation length must be a number >= 1, got ${n}`);
}

/** Fixed-length truncations: done once `step >= totalLength`. */
export class ConstantTruncationSchedule extends TruncationSchedule<ConstantTruncationState> {
  /** @param totalLength the number of inner steps of every truncation. */
  constructor(readonly totalLength: number) {
    super();
    checkLength(totalLength, 'ConstantTruncationSchedule');
  }

  /** The state of a fresh truncation. */
  init(_key: PRNGKey, _outerState?: OuterState): ConstantTruncationState {
    return { length: this.totalLength };
  }

  /** The state after inner step `step`, and whether the truncation is done. */
  nextState(
    state: ConstantTruncationState,
    step: number,
    _key?: PRNGKey,
    _outerState?: OuterState,
  ): [ConstantTruncationState, boolean] {
    return [state, step >= this.totalLength];
  }
}

/**
 * Truncation lengths drawn log-uniformly in `[minLength, maxLength)`, so short unrolls
 * are more frequent. A new length is drawn whenever a truncation ends.
 */
export class LogUniformLengthSchedule extends TruncationSchedule<ConstantTruncationState> {
  /**
   * @param minLength the shortest length (a number or a schedule of the outer iteration).
   * @param maxLength the longest length (likewise).
   */
  constructor(
    readonly minLength: ScalarSchedule,
    readonly maxLength: ScalarSchedule,
  ) {
    super();
    if (typeof minLength === 'number') checkLength(minLength, 'LogUniformLengthSchedule');
    if (typeof maxLength === 'number') checkLength(maxLength, 'LogUniformLengthSchedule');
    if (typeof minLength === 'number' && typeof maxLength === 'number' && maxLength < minLength) {
      throw new Error(`LogUniformLengthSchedule: maxLength (${maxLength}) is below minLength (${minLength})`);
    }
  }

  /** The state of a fresh truncation. */
  init(key: PRNGKey, outerState?: OuterState): ConstantTruncationState {
    const lo = Math.log(resolve(this.minLength, outerState));
    const hi = Math.log(resolve(this.maxLength, outerState));
    // float32 draw as the reference does, then truncation to an integer.
    const u = tf.tidy(() => random.uniform(key, [], lo, hi).dataSync()[0]!);
    return { length: Math.max(1, Math.trunc(Math.fround(Math.exp(u)))) };
  }

  /** The state after inner step `step`, and whether the truncation is done. */
  nextState(
    state: ConstantTruncationState,
    step: number,
    key: PRNGKey,
    outerState?: OuterState,
  ): [ConstantTruncationState, boolean] {
    const done = step >= state.length;
    return [done ? this.init(key, outerState) : state, done];
  }
}

/** A schedule that never ends a truncation (for estimators that manage lengths themselves). */
export class NeverEndingTruncationSchedule extends TruncationSchedule<Record<string, never>> {
  /** The state of a fresh truncation. */
  init(_key?: PRNGKey, _outerState?: OuterState): Record<string, never> {
    return {};
  }

  /** The state after inner step `step`, and whether the truncation is done. */
  nextState(
    state: Record<string, never>,
    _step?: number,
    _key?: PRNGKey,
    _outerState?: OuterState,
  ): [Record<string, never>, boolean] {
    return [state, false];
  }
}

/** Options of `ScheduledTruncationSchedule`. */
export interface ScheduledTruncationOptions {
  /** Passed to the schedule as its horizon. */
  maxSteps?: number;
  /** Standard deviation of an integer shift added to each length (default 0). */
  std?: number;
  /** Lower bound of shifted lengths (default 10). */
  minLength?: number;
}

/** Truncation lengths given by a deterministic schedule of the outer iteration. */
export class ScheduledTruncationSchedule extends TruncationSchedule<ConstantTruncationState> {
  /** Passed to the schedule as its horizon. */
  readonly maxSteps: number | undefined;
  /** Standard deviation of the integer shift of each length. */
  readonly std: number;
  /** Lower bound of shifted lengths. */
  readonly minLength: number;

  /** @param schedule the length as a function of `(outerIteration, maxSteps)`. */
  constructor(
    readonly schedule: (outerIteration: number, maxSteps?: number) => number,
    opts: ScheduledTruncationOptions = {},
  ) {
    super();
    this.maxSteps = opts.maxSteps;
    this.std = opts.std ?? 0;
    this.minLength = opts.minLength ?? 10;
  }

  /** The state of a fresh truncation. */
  init(key: PRNGKey, outerState?: OuterState): ConstantTruncationState {
    let length = Math.trunc(resolve(this.schedule, outerState, this.maxSteps));
    if (this.std > 0) {
      const z = tf.tidy(() => random.normal(key, []).dataSync()[0]!);
      length = Math.max(length + Math.trunc(z * this.std), this.minLength);
    }
    checkLength(length, 'ScheduledTruncationSchedule');
    return { length };
  }

  /** The state after inner step `step`, and whether the truncation is done. */
  nextState(
    state: ConstantTruncationState,
    step: number,
    key: PRNGKey,
    outerState?: OuterState,
  ): [ConstantTruncationState, boolean] {
    const done = step >= state.length;
    return [done ? this.init(key, outerState) : state, done];
  }
}
