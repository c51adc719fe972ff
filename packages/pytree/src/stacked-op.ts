import type * as tf from '@tensorflow/tfjs-core';
import { constantDifferentiated, defineOp, type Op } from './fast-op.js';

/**
 * How the K-problem version of an op relates to the op (see `stackedOp`): how stacked
 * arguments split into each problem's arguments and how K results stack again, and
 * optionally how the op's own math runs on all K problems at once.
 */
export interface StackedRule<A extends unknown[], R, SA extends unknown[], SR> {
  /** The derived op's name, as `fastPathCounts()` reports it (default: the op's name + `.stacked`). */
  name?: string;
  /** Each problem's arguments, problem k's being slices of the stacked ones (in problem order). */
  split: (...args: SA) => A[];
  /** The K problems' results stacked (leaves on a leading axis of K). */
  stack: (results: R[]) => SR;
  /**
   * For elementwise and broadcasting math (the `vmap` rule of such ops over a leading
   * axis): arguments with which the op's own reference computes all K problems in one
   * call (per-problem scalars reshaped to `[K, 1, ...]` so that they broadcast over each
   * problem's block), and its result as the stacked result. When given, this is the
   * derived op's reference; otherwise the reference runs the op's reference once per
   * problem and stacks the results.
   */
  broadcast?: {
    args: (...args: SA) => A;
    result: (r: R) => SR;
  };
  /**
   * The derived op's fast path. `'perProblem'` (the default when the op has a kernel):
   * the op's kernel once per problem, on each problem's slices, where the op's rule
   * (`applies`) accepts every problem and none of the inputs its kernel treats as
   * constants is differentiated (`constants`). `'none'`: no fast path, the reference above
   * always runs. Or a kernel of its own that takes the stacked arguments, for where one
   * call for K problems is measurably faster than K calls; its comment gives the numbers.
   */
  kernel?:
    | 'perProblem'
    | 'none'
    | {
        run: (...args: SA) => SR | undefined;
        applies?: (...args: SA) => boolean;
        /** As `OpDefinition.constants`, of the stacked arguments. */
        constants?: (...args: SA) => readonly (tf.Tensor | undefined)[];
        /** As `OpDefinition.vjpOrder` (default: the op's). */
        vjpOrder?: number;
      };
}

/**
 * The K-problem version of `op`, derived from its single-problem definition instead of
 * a second copy of its math (TensorFlow.js has no `vmap`): called with arguments stacked
 * on a leading axis of K problems, it gives the stacked results of K separate calls of
 * `op`, to every derivative order `op` serves. Its reference is `op`'s reference run
 * once over all K problems through broadcasting (`rule.broadcast`, for elementwise
 * math) or once per problem; its fast path is `op`'s kernel once per problem (or a
 * dedicated K kernel, `rule.kernel`). Like every op, it counts the path it took in
 * `fastPathCounts()` under its own name. Call it inside `tf.tidy`: the per-problem slices
 * are intermediates.
 *
 * @example
 * // K problems' `scaledSquare(x, k)` with x `[K, n]` and per-problem scales `[K]`:
 * const scaledSquareK = stackedOp(scaledSquare, {
 *   split: (x: tf.Tensor, k: tf.Tensor) => tf.unstack(x).map((xi, i) => [xi, tf.gather(k, i)]),
 *   stack: (rs) => tf.stack(rs),
 *   broadcast: { args: (x, k) => [x, tf.reshape(k, [-1, 1])], result: (r) => r },
 * });
 */
export function stackedOp<A extends unknown[], R, SA extends unknown[], SR>(
  op: Op<A, R>,
  rule: StackedRule<A, R, SA, SR>,
): Op<SA, SR> {
  const def = op.definition;
  const reference = rule.broadcast
    ? (...args: SA): SR => rule.broadcast!.result(def.reference(...rule.broadcast!.args(...args)))
    : (...args: SA): SR => rule.stack(rule.split(...args).map((a) => def.reference(...a)));
  const mode = rule.kernel ?? (def.kernel ? 'perProblem' : 'none');
  if (mode === 'none') return defineOp<SA, SR>({ name: rule.name ?? `${def.name}.stacked`, reference });
  if (mode === 'perProblem') {
    const kernel = def.kernel;
    if (!kernel) throw new Error(`stackedOp(${def.name}): the op has no kernel to run per problem`);
    return defineOp<SA, SR>({
      name: rule.name ?? `${def.name}.stacked`,
      reference,
      // Slices of a declined call are freed by the caller's `tf.tidy`, like every intermediate.
      kernel: (...args: SA) => {
        const parts = rule.split(...args);
        if (def.applies && !parts.every((a) => def.applies!(...a))) return undefined;
        if (parts.some((a) => constantDifferentiated(def, a))) return undefined;
        const results: R[] = [];
        for (const a of parts) {
          const r = kernel(...a);
          if (r === undefined) return undefined;
          results.push(r);
        }
        return rule.stack(results);
      },
      backends: def.backends,
      vjpOrder: def.vjpOrder,
    });
  }
  return defineOp<SA, SR>({
    name: rule.name ?? `${def.name}.stacked`,
    reference,
    kernel: mode.run,
    applies: mode.applies,
    constants: mode.constants,
    backends: def.backends,
    vjpOrder: mode.vjpOrder ?? def.vjpOrder,
  });
}
