import * as tf from '@tensorflow/tfjs-core';
import { isDifferentiated } from './differentiated.js';
import { FUSED_BACKENDS } from './fused.js';

/** `LOPT_FAST_PATHS=off` in the environment turns every fast path off from the start. */
function fastPathsFromEnv(): boolean {
  const env = typeof process !== 'undefined' ? process.env?.LOPT_FAST_PATHS : undefined;
  return !(env && ['off', '0', 'false', 'no'].includes(env.toLowerCase()));
}

let enabled = fastPathsFromEnv();

/**
 * Turns the fast paths (every op's kernel, see `defineOp`) on or off; returns the
 * previous setting. They start on unless `LOPT_FAST_PATHS=off` is in the environment.
 * Off, every op runs its plain-op reference: for comparisons and debugging.
 */
export function setFastPathsEnabled(on: boolean): boolean {
  const previous = enabled;
  enabled = on;
  return previous;
}

/** True unless the fast paths were turned off (`setFastPathsEnabled`, `LOPT_FAST_PATHS=off`). */
export function fastPathsEnabled(): boolean {
  return enabled;
}

/**
 * How an op is defined: its plain-op reference, which defines what it computes, and
 * optionally a faster kernel with the rule for where that kernel applies.
 */
export interface OpDefinition<A extends unknown[], R> {
  /** The op's name, as `fastPathCounts()` reports it. */
  name: string;
  /**
   * The reference: plain tfjs ops, differentiable by tfjs's autodiff on every backend. It
   * defines the op's semantics; the kernel must give its values (and gradients).
   */
  reference: (...args: A) => R;
  /**
   * The fast path: usually one fused kernel (see `registerFusedKernel`) written next to
   * the math it speeds up. It may still return `undefined` to decline these arguments.
   */
  kernel?: (...args: A) => R | undefined;
  /**
   * Where the kernel applies, beyond the backend: dtypes, sizes, option values (default:
   * everywhere). Evaluated on every call, before the kernel.
   */
  applies?: (...args: A) => boolean;
  /**
   * Tensor arguments the kernel treats as constants: its vector-Jacobian product gives
   * them no gradient (a data batch, say). Where one of them is being differentiated
   * (`isDifferentiated`: a running `grad` is taken with respect to it, or to something
   * it is computed from), the reference runs, so that gradient is the true one and never
   * a silent zero.
   */
  constants?: (...args: A) => readonly (tf.Tensor | undefined)[];
  /** Backends the kernel runs on (default: cpu and wasm, whose data JavaScript can read). */
  backends?: readonly string[];
  /**
   * How many times the kernel's outputs may be differentiated: 0 when the kernel has no
   * vector-Jacobian product (it runs only while no gradient tape records), 1 when its VJP
   * is a kernel without a gradient of its own, and so on; `Infinity` (the default) when
   * the VJP is built from differentiable ops. Under deeper nesting of `grad` / `valueAndGrad`
   * the reference runs, so derivatives of every order stay available.
   */
  vjpOrder?: number;
}

/** An op: call it like its reference; it runs the kernel where that applies. */
export interface Op<A extends unknown[], R> {
  (...args: A): R;
  /** The op's name. */
  readonly opName: string;
  /** The plain-op reference (what the op computes everywhere), for tests and comparisons. */
  readonly reference: (...args: A) => R;
  /** The definition the op was made from (`stackedOp` derives K-problem versions from it). */
  readonly definition: OpDefinition<A, R>;
}

/** Calls of one op by path: `fast` ran the kernel, `plain` the reference. */
export interface FastPathCount {
  fast: number;
  plain: number;
}

const counts = new Map<string, FastPathCount>();

function count(name: string): FastPathCount {
  let c = counts.get(name);
  if (!c) {
    c = { fast: 0, plain: 0 };
    counts.set(name, c);
  }
  return c;
}

/** How many gradient tapes are recording around the current call (nested `grad`s). */
export function gradientDepth(): number {
  return (tf.engine() as unknown as { state: { gradientDepth: number } }).state.gradientDepth;
}

/** True when a gradient tape is recording (a kernel without a VJP would be invisible to it). */
export function isRecordingGradients(): boolean {
  return gradientDepth() > 0;
}

/**
 * True when fast paths can run at all here: they are on (not `LOPT_FAST_PATHS=off` nor
 * `setFastPathsEnabled(false)`) and the active backend is one of `backends` (default cpu
 * and wasm). Tests comparing an op's kernel with its reference skip when this is false
 * rather than compare the reference with itself.
 */
export function fastPathsActive(backends: readonly string[] = FUSED_BACKENDS): boolean {
  return fastPathsEnabled() && backends.includes(tf.getBackend());
}

/** True when a gradient is taken with respect to an input `def`'s kernel treats as a constant. */
export function constantDifferentiated<A extends unknown[]>(def: OpDefinition<A, unknown>, args: A): boolean {
  if (!def.constants || gradientDepth() === 0) return false;
  return def.constants(...args).some((t) => t !== undefined && isDifferentiated(t));
}

/**
 * Defines an op once, by its plain-op reference, with an optional kernel and the rule for
 * where the kernel applies. The op alone decides, on every call, which path runs: the
 * kernel when fast paths are on, the backend is one of the kernel's, `applies` accepts
 * the arguments, no more gradient tapes record than the kernel's outputs can be
 * differentiated (`vjpOrder`), none of the inputs the kernel treats as constants is
 * being differentiated (`constants`), and the kernel does not decline; the reference
 * otherwise. `fastPathCounts()` reports the paths taken.
 *
 * @example
 * const scaledSum = defineOp({
 *   name: 'scaledSum',
 *   reference: (x: tf.Tensor, k: number) => tf.mul(tf.sum(x), k),
 *   kernel: (x, k) => runFusedKernel('MyScaledSum', { x }, { k })[0],
 *   applies: (x) => x.dtype === 'float32',
 * });
 */
export function defineOp<A extends unknown[], R>(def: OpDefinition<A, R>): Op<A, R> {
  const backends = def.backends ?? FUSED_BACKENDS;
  const vjpOrder = def.vjpOrder ?? Number.POSITIVE_INFINITY;
  const c = count(def.name);
  const op = (...args: A): R => {
    if (
      def.kernel &&
      fastPathsActive(backends) &&
      gradientDepth() <= vjpOrder &&
      (def.applies === undefined || def.applies(...args)) &&
      !constantDifferentiated(def, args)
    ) {
      const out = def.kernel(...args);
      if (out !== undefined) {
        c.fast += 1;
        return out;
      }
    }
    c.plain += 1;
    return def.reference(...args);
  };
  Object.defineProperty(op, 'opName', { value: def.name });
  Object.defineProperty(op, 'reference', { value: def.reference });
  Object.defineProperty(op, 'definition', { value: def });
  return op as Op<A, R>;
}

/**
 * Which path each op took so far, by op name: `{ fast, plain }` call counts (ops never
 * called are listed with zeros once defined). `lopt ... --verbose` prints them.
 */
export function fastPathCounts(): Record<string, FastPathCount> {
  return Object.fromEntries([...counts].map(([name, c]) => [name, { ...c }]));
}

/** Sets every op's counts back to zero (for a test or a measurement of one run). */
export function resetFastPathCounts(): void {
  for (const c of counts.values()) {
    c.fast = 0;
    c.plain = 0;
  }
}
