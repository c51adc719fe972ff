import type { LearnedOptimizer } from '@lopt/learned';
import type { OptState } from '@lopt/optimizers';
import { type PRNGKey, random, valueAndGrad } from '@lopt/pytree';
import type { Task } from '@lopt/tasks';
import type * as tf from '@tensorflow/tfjs-core';

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
 */
export function unrolledMetaLoss<Theta, P = unknown, D = unknown>(
  lopt: LearnedOptimizer<Theta>,
  task: Task<P, D>,
  { unrollSteps }: UnrolledMetaLossOptions,
): (theta: Theta, key: PRNGKey, batch: D) => tf.Scalar {
  if (!Number.isInteger(unrollSteps) || unrollSteps < 0) {
    throw new Error(`unrolledMetaLoss: unrollSteps must be a non-negative integer, got ${unrollSteps}`);
  }
  // task.loss itself (not a wrapper) keeps the task's fused loss-and-gradient path.
  const lossAndGrad = valueAndGrad(task.loss);
  return (theta, key, batch) => {
    const opt = lopt.optFn(theta);
    let k1: PRNGKey;
    [k1, key] = random.split(key) as [PRNGKey, PRNGKey];
    let state: OptState<P> = opt.init(task.init(k1));
    for (let i = 0; i < unrollSteps; i++) {
      [k1, key] = random.split(key) as [PRNGKey, PRNGKey];
      const [l, g] = lossAndGrad(opt.getParams(state), k1, batch);
      state = opt.update(state, g as P, { loss: l as tf.Scalar });
    }
    [k1, key] = random.split(key) as [PRNGKey, PRNGKey];
    return task.loss(opt.getParams(state), k1, batch);
  };
}
