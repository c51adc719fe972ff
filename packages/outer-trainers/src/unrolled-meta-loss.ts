import type { LearnedOptimizer } from '@lopt/learned';
import { type PRNGKey, random } from '@lopt/pytree';
import type { Task } from '@lopt/tasks';
import type * as tf from '@tensorflow/tfjs-core';
import { unrollOp } from './unroll-op.js';

/** Options of {@link unrolledMetaLoss}. */
export interface UnrolledMetaLossOptions {
  /** Inner training steps unrolled before the loss is measured (Part 1 uses 4). */
  unrollSteps: number;
}

/**
 * The meta-loss of learned_optimization's Part 1 walkthrough, as a function of theta:
 * fresh parameters of `task` trained for `unrollSteps` steps by `lopt.optFn(theta)` on
 * `batch`, then the task's loss on that same batch. Differentiable with respect to theta
 * through the inner gradients (`valueAndGrad(unrolledMetaLoss(...))`).
 *
 * Keys: `key` is split once for the initial parameters, once per inner step, and once for
 * the final loss, in that order, as the reference's walkthrough does.
 *
 * The unroll is the `unrolledMetaLoss` op (`fastPathCounts()` names it): for
 * `LearnableAdam` on a softmax cross-entropy image MLP (relu or tanh) on cpu or wasm, the
 * whole unroll and its meta-gradient are two fused kernels; any other optimizer or task,
 * a second derivative, or a gradient with respect to the batch's images runs the
 * step-by-step loop.
 */
export function unrolledMetaLoss<Theta, P = unknown, D = unknown>(
  lopt: LearnedOptimizer<Theta>,
  task: Task<P, D>,
  { unrollSteps }: UnrolledMetaLossOptions,
): (theta: Theta, key: PRNGKey, batch: D) => tf.Scalar {
  if (!Number.isInteger(unrollSteps) || unrollSteps < 0) {
    throw new Error(`unrolledMetaLoss: unrollSteps must be a non-negative integer, got ${unrollSteps}`);
  }
  return (theta, key, batch) => {
    let k1: PRNGKey;
    [k1, key] = random.split(key) as [PRNGKey, PRNGKey];
    const params = task.init(k1);
    const stepKeys: PRNGKey[] = [];
    for (let i = 0; i < unrollSteps; i++) {
      [k1, key] = random.split(key) as [PRNGKey, PRNGKey];
      stepKeys.push(k1);
    }
    [k1, key] = random.split(key) as [PRNGKey, PRNGKey];
    return unrollOp(
      lopt as LearnedOptimizer<unknown>,
      task as Task<unknown, unknown>,
      theta,
      params,
      stepKeys,
      k1,
      batch,
    );
  };
}
