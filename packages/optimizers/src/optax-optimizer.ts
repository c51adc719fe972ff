import {
  assertSameStructure,
  type PyTree,
  type TreeDef,
  tidy,
  treeDefEqual,
  treeFlatten,
  treeLeaves,
  treeStructure,
  treeUnflatten,
} from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { checkGrads, checkParams } from './checks.js';
import { increment } from './hyperparams.js';
import { type InitOptions, Optimizer, type OptState, type UpdateOptions } from './optimizer.js';
import type { GradientTransformation } from './transform.js';

/** The state of an `OptaxOptimizer`: the standard fields plus the transformation's state. */
export interface OptaxState<P = unknown, S = unknown> extends OptState<P> {
  /** The gradient transformation's state (the reference's `optax_opt_state`). */
  optaxOptState: S;
}

/**
 * Turns a gradient transformation into an `Optimizer` (the reference's `OptaxOptimizer`):
 * `update` applies the transformation to the gradients and adds the result to the params.
 */
export class OptaxOptimizer<S = unknown> extends Optimizer {
  /** The transformation applied to the gradients. */
  readonly opt: GradientTransformation<S>;
  // The transformation state's structure and leaf shapes, by params structure.
  private readonly expected = new Map<string, { def: TreeDef; shapes: number[][] }>();

  constructor(opt: GradientTransformation<S>) {
    super();
    this.opt = opt;
  }

  /** The initial state: the params, the model state, iteration 0 and the transformation's state. */
  override init<P>(params: P, opts: InitOptions = {}): OptaxState<P, S> {
    checkParams(this.ownerName, params);
    const optaxOptState = this.initTxState(params);
    return { params, modelState: opts.modelState, iteration: tf.scalar(0, 'int32'), optaxOptState };
  }

  /** Applies the transformation to `grads` and adds the result to the params. */
  override update<P>(state: OptState<P>, grads: P, opts: UpdateOptions = {}): OptaxState<P, S> {
    const s = this.checkState(state);
    checkGrads(this.ownerName, s.params, grads);
    const out = tidy(() => {
      const [u, next] = this.opt.update(grads, s.optaxOptState, s.params);
      const [leaves, def] = treeFlatten(s.params as PyTree);
      const ul = treeFlatten(u as PyTree)[0];
      const params = treeUnflatten<tf.Tensor, P>(
        def,
        leaves.map((x, i) => tf.add(x, ul[i]!)),
      );
      return { params, optaxOptState: next };
    });
    return {
      params: out.params,
      modelState: opts.modelState,
      iteration: increment(s.iteration),
      optaxOptState: out.optaxOptState,
    };
  }

  /** Checks `state` is one of this optimizer's states, with a clear error otherwise. */
  private nameCache: string | undefined;

  /** `name`, formatted once: checks run on every update and name the optimizer in errors. */
  protected get ownerName(): string {
    if (this.nameCache === undefined) this.nameCache = this.name;
    return this.nameCache;
  }

  private checkState<P>(state: OptState<P>): OptaxState<P, S> {
    const name = this.ownerName;
    if (state === null || typeof state !== 'object') throw new Error(`${name}: update got ${state} as its state`);
    for (const f of ['params', 'iteration', 'optaxOptState'] as const) {
      if (!(f in state)) {
        const has = Object.keys(state).join(', ');
        throw new Error(
          `${name}: the state has no '${f}' field (it has ${has}); it was not made by this optimizer's init` +
            (f === 'optaxOptState' ? ' (a state of another optimizer class?)' : ''),
        );
      }
    }
    const s = state as OptaxState<P, S>;
    // Keyed by shapes too: one optimizer may step params of one structure but other shapes.
    const paramLeaves = treeLeaves(s.params as PyTree<unknown>);
    const key = `${JSON.stringify(treeStructure(s.params as PyTree<unknown>))}|${paramLeaves
      .map((l) => (l instanceof tf.Tensor ? l.shape.join('x') : '-'))
      .join(',')}`;
    let expected = this.expected.get(key);
    if (!expected) {
      const init = this.initTxState(s.params);
      const [leaves, def] = treeFlatten(init as PyTree<unknown>);
      expected = { def, shapes: leaves.map((l) => (l instanceof tf.Tensor ? l.shape : [])) };
      tf.dispose(init as tf.TensorContainer);
      this.expected.set(key, expected);
    }
    const [leaves, def] = treeFlatten(s.optaxOptState as PyTree<unknown>);
    if (!treeDefEqual(def, expected.def)) {
      // Rebuild the expected state only to name the first differing path.
      const init = this.initTxState(s.params);
      try {
        assertSameStructure(
          init,
          s.optaxOptState,
          `${name}: the state's optaxOptState does not fit this optimizer (a state of another optimizer?); expected and given states`,
        );
      } finally {
        tf.dispose(init as tf.TensorContainer);
      }
    }
    leaves.forEach((g, i) => {
      const e = expected.shapes[i]!;
      if (g instanceof tf.Tensor && !tf.util.arraysEqual(e, g.shape)) {
        throw new Error(
          `${name}: optaxOptState leaf ${i} has shape [${g.shape.join(', ')}], expected [${e.join(', ')}] (a state of another optimizer or of other params?)`,
        );
      }
    });
    return s;
  }

  private initTxState(params: unknown): S {
    return tidy(() => this.opt.init(params));
  }
}
