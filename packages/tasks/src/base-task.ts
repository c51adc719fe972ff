import type { Datasets } from '@lopt/datasets';
import type { PRNGKey } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { Aux, Task, TaskFamily } from './task.js';

/** Binds the named methods of `obj` to it, so they can be passed around unbound. */
function bindMethods(obj: object, names: readonly string[]): void {
  const rec = obj as Record<string, unknown>;
  for (const n of names) {
    const f = rec[n];
    if (typeof f === 'function') rec[n] = f.bind(obj);
  }
}

const TASK_METHODS = [
  'init',
  'initWithState',
  'loss',
  'lossWithState',
  'lossAndAux',
  'lossWithStateAndAux',
  'normalizer',
] as const;

const FAMILY_METHODS = ['sample', 'taskFn', 'sampleTask', 'evalTaskFn'] as const;

/**
 * A plain base class for tasks, as the reference's `Task`: subclasses define `init` and
 * `loss` (or the `WithState` variants for stateful models) and inherit the rest. Every
 * method is bound to the instance at construction, so `valueAndGrad(task.loss)` works.
 */
export abstract class BaseTask<P = unknown, D = unknown, S = undefined> implements Task<P, D, S> {
  /** The task's data, when it has any. */
  datasets?: Datasets;

  constructor() {
    bindMethods(this, TASK_METHODS);
  }

  /** The task's name: by default the class name, as in the reference. */
  get name(): string {
    return this.constructor.name;
  }

  /** Fresh parameters drawn from `key`. */
  abstract init(key: PRNGKey): P;

  /** The scalar loss of `params` on `data`. */
  abstract loss(params: P, key: PRNGKey, data: D): tf.Scalar;

  /** Parameters and an empty model state (stateless tasks). */
  initWithState(key: PRNGKey): [P, S] {
    return [this.init(key), undefined as S];
  }

  /** The loss with a model state; stateless tasks reject a defined state. */
  lossWithState(params: P, state: S, key: PRNGKey, data: D): [tf.Scalar, S] {
    if (state !== undefined && state !== null) {
      throw new Error(`${this.name}: this task has no model state; override lossWithState to use one`);
    }
    return [this.loss(params, key, data), state];
  }

  /** The loss and no auxiliary outputs (override to report some). */
  lossAndAux(params: P, key: PRNGKey, data: D): [tf.Scalar, Aux] {
    return [this.loss(params, key, data), {}];
  }

  /** The loss, the model state and the auxiliary outputs. */
  lossWithStateAndAux(params: P, state: S, key: PRNGKey, data: D): [tf.Scalar, S, Aux] {
    if (state !== undefined && state !== null) {
      throw new Error(`${this.name}: this task has no model state; override lossWithStateAndAux to use one`);
    }
    const [l, aux] = this.lossAndAux(params, key, data);
    return [l, state, aux];
  }

  /** The identity by default; tasks override it to put losses on a common scale. */
  normalizer(loss: tf.Tensor): tf.Tensor {
    return tf.clone(loss);
  }
}

/**
 * A plain base class for task families, as the reference's `TaskFamily`: subclasses
 * define `sample` and `taskFn`. Methods are bound at construction.
 */
export abstract class BaseTaskFamily<Cfg = unknown, P = unknown, D = unknown, S = unknown>
  implements TaskFamily<Cfg, P, D, S>
{
  /** The data shared by the family's tasks, when they have any. */
  datasets?: Datasets;

  constructor() {
    bindMethods(this, FAMILY_METHODS);
  }

  /** The family's name: by default the class name. */
  get name(): string {
    return this.constructor.name;
  }

  /** A plain config drawn from `key`. */
  abstract sample(key: PRNGKey): Cfg;

  /** The task for `cfg`. */
  abstract taskFn(cfg: Cfg): Task<P, D, S>;

  /** `taskFn(sample(key))`. */
  sampleTask(key: PRNGKey): Task<P, D, S> {
    return this.taskFn(this.sample(key));
  }

  /** The evaluation task for `cfg`: the same as `taskFn` unless overridden. */
  evalTaskFn(cfg: Cfg): Task<P, D, S> {
    return this.taskFn(cfg);
  }
}
