import { type InitOptions, Optimizer, type OptState, type UpdateOptions } from '@lopt/optimizers';
import { type PRNGKey, random, treeMap } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { LearnedOptimizer } from './learned-optimizer.js';
import { tidyTree } from './tidy-tree.js';

/** State of `SumOptimizer`: the inner optimizers' states, kept at the summed params. */
export interface SumOptimizerState<P> extends OptState<P> {
  /** One state per inner optimizer. */
  innerOptStates: OptState<P>[];
}

/**
 * An optimizer whose step is the sum of two optimizers' steps (the reference's
 * `SumOptimizer`): each inner optimizer updates from the same params and gradients, and
 * the new params are `p - (step0 + step1)`, with both inner states moved to them.
 */
export class SumOptimizer extends Optimizer {
  /** @param opts exactly two optimizers, as the reference */
  constructor(readonly opts: readonly Optimizer[]) {
    super();
    if (opts.length !== 2) throw new Error(`SumOptimizer: exactly 2 optimizers are supported, got ${opts.length}`);
  }
  /** Both inner states, and the shared params. */
  init<P>(params: P, opts: InitOptions = {}): SumOptimizerState<P> {
    return {
      params,
      modelState: opts.modelState,
      iteration: tf.scalar(0, 'int32'),
      innerOptStates: this.opts.map((o) => o.init(params, opts)),
    };
  }
  /** Params as the first inner optimizer reports them. */
  override getParams<P>(state: OptState<P>): P {
    return this.opts[0]!.getParams((state as SumOptimizerState<P>).innerOptStates[0]!);
  }
  /** Model state as the first inner optimizer reports it. */
  override getState<P>(state: OptState<P>): unknown {
    return this.opts[0]!.getState((state as SumOptimizerState<P>).innerOptStates[0]!);
  }
  /** Applies both optimizers and sums their steps. */
  update<P>(state: OptState<P>, grads: P, opts: UpdateOptions = {}): SumOptimizerState<P> {
    const s = state as SumOptimizerState<P>;
    return tidyTree(() => {
      const next = this.opts.map((o, i) => o.update(s.innerOptStates[i]!, grads, opts));
      const p = s.params;
      const params = treeMap(
        (x, a, b) => tf.sub(x, tf.add(tf.sub(x, a), tf.sub(x, b))),
        p,
        next[0]!.params,
        next[1]!.params,
      ) as P;
      return {
        params,
        modelState: opts.modelState,
        iteration: tf.add(s.iteration, tf.scalar(1, 'int32')) as tf.Scalar,
        innerOptStates: next.map((n, i) => this.opts[i]!.setParams(n, params)),
      };
    });
  }
  override get name(): string {
    return `SumOptimizer(${this.opts.map((o) => o.name).join(', ')})`;
  }
}

/** Theta of `SumLearnedOptimizer`: `innerLoptTheta0`, `innerLoptTheta1`, ... */
export type SumTheta = Record<string, unknown>;

/**
 * Adds learned optimizers together (the reference's `SumLearnedOptimizer`): theta holds
 * each one's theta under `innerLoptTheta<i>` (the reference's `inner_lopt_theta_<i>`),
 * and the optimizer applies the sum of their steps (`SumOptimizer`, two optimizers).
 */
export class SumLearnedOptimizer extends LearnedOptimizer<SumTheta> {
  /** @param lopts the learned optimizers to add (two, as `SumOptimizer` requires) */
  constructor(readonly lopts: readonly LearnedOptimizer<unknown>[]) {
    super();
  }
  /** Each inner theta from its own split of `key`. */
  init(key: PRNGKey): SumTheta {
    const keys = random.split(key, this.lopts.length);
    return Object.fromEntries(this.lopts.map((l, i) => [`innerLoptTheta${i}`, l.init(keys[i]!)]));
  }
  /** The sum of the inner learned optimizers' optimizers. */
  optFn(theta: SumTheta, isTraining = false): Optimizer {
    return new SumOptimizer(
      this.lopts.map((l, i) => {
        const k = `innerLoptTheta${i}`;
        if (!(k in theta))
          throw new Error(`SumLearnedOptimizer: theta has no '${k}' (keys: ${Object.keys(theta).join(', ')})`);
        return l.optFn(theta[k], isTraining);
      }),
    );
  }
  override get name(): string {
    return `SumLearnedOptimizer(${this.lopts.map((l) => l.name).join(', ')})`;
  }
}
