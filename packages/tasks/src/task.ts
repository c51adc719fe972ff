import type { Datasets } from '@lopt/datasets';
import type { PRNGKey } from '@lopt/pytree';
import type * as tf from '@tensorflow/tfjs-core';

/** Auxiliary outputs of a loss (accuracy, logits, ...), by name. */
export type Aux = Record<string, tf.Tensor>;

/**
 * A task: a loss over parameters and data, and how to initialise the parameters
 * (learned_optimization's `Task`). Methods work unbound, so `valueAndGrad(task.loss)` works
 * (`BaseTask` binds them for subclasses).
 *
 * `P` is the parameter pytree, `D` the batch type (`undefined` for tasks without data),
 * `S` the model state (`undefined` for stateless tasks).
 */
export interface Task<P = unknown, D = unknown, S = unknown> {
  /** The task's name, as the reference names it. */
  readonly name: string;
  /** The task's data, when it has any. */
  readonly datasets?: Datasets;
  /** Fresh parameters drawn from `key`. */
  init(key: PRNGKey): P;
  /** Fresh parameters and model state drawn from `key`. */
  initWithState(key: PRNGKey): [P, S];
  /** The scalar loss of `params` on `data`. */
  loss(params: P, key: PRNGKey, data: D): tf.Scalar;
  /** The loss and the next model state. */
  lossWithState(params: P, state: S, key: PRNGKey, data: D): [tf.Scalar, S];
  /** The loss and auxiliary outputs. */
  lossAndAux(params: P, key: PRNGKey, data: D): [tf.Scalar, Aux];
  /** The loss, the next model state and auxiliary outputs. */
  lossWithStateAndAux(params: P, state: S, key: PRNGKey, data: D): [tf.Scalar, S, Aux];
  /** Maps a loss onto a comparable scale across tasks (for meta-training). */
  normalizer(loss: tf.Tensor): tf.Tensor;
}

/**
 * A distribution over tasks (learned_optimization's `TaskFamily`): `sample` draws a
 * plain config from a key, `taskFn` builds the task for a config.
 */
export interface TaskFamily<Cfg = unknown, P = unknown, D = unknown, S = unknown> {
  /** The family's name. */
  readonly name: string;
  /** The data shared by the family's tasks, when they have any. */
  readonly datasets?: Datasets;
  /** A config drawn from `key` (plain data: numbers, strings, arrays). */
  sample(key: PRNGKey): Cfg;
  /** The task for `cfg`. */
  taskFn(cfg: Cfg): Task<P, D, S>;
  /** `taskFn(sample(key))`. */
  sampleTask(key: PRNGKey): Task<P, D, S>;
  /** The task used for evaluation for `cfg` (by default the same as `taskFn`). */
  evalTaskFn(cfg: Cfg): Task<P, D, S>;
}
