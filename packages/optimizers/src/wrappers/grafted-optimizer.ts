import { tidy, treeMap, treeNorm } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { checkGrads } from '../checks.js';
import { increment } from '../hyperparams.js';
import { type InitOptions, Optimizer, type OptState, type UpdateOptions } from '../optimizer.js';

/** State of `GraftedOptimizer`. */
export interface GraftedOptimizerState<P = unknown> extends OptState<P> {
  /** The magnitude optimizer's state (its params kept equal to `params`). */
  magOptState: OptState<P>;
  /** The direction optimizer's state (its params kept equal to `params`). */
  dirOptState: OptState<P>;
}

/**
 * Learning-rate grafting (Agarwal et al., the reference's `GraftedOptimizer`): each step
 * goes in the direction of `directionOpt`'s step with the global norm of
 * `magnitudeOpt`'s step.
 */
export class GraftedOptimizer extends Optimizer {
  /** Gives the step size. */
  readonly magnitudeOpt: Optimizer;
  /** Gives the step direction. */
  readonly directionOpt: Optimizer;

  constructor(magnitudeOpt: Optimizer, directionOpt: Optimizer) {
    super();
    this.magnitudeOpt = magnitudeOpt;
    this.directionOpt = directionOpt;
  }

  /** Both inner states, on the same params. */
  override init<P>(params: P, opts: InitOptions = {}): GraftedOptimizerState<P> {
    return {
      iteration: tf.scalar(0, 'int32'),
      params,
      modelState: opts.modelState,
      magOptState: this.magnitudeOpt.init(params, opts),
      dirOptState: this.directionOpt.init(params, opts),
    };
  }

  /** One grafted step. */
  override update<P>(state: OptState<P>, grads: P, opts: UpdateOptions = {}): GraftedOptimizerState<P> {
    const s = state as GraftedOptimizerState<P>;
    if (!s.magOptState || !s.dirOptState) {
      throw new Error(`${this.name}: the state has no magOptState/dirOptState (a state of another optimizer?)`);
    }
    checkGrads(this.name, s.params, grads);
    const out = tidy(() => {
      const base = s.params;
      const mag = this.magnitudeOpt.update(s.magOptState, grads, opts);
      const dir = this.directionOpt.update(s.dirOptState, grads, opts);
      const magStep = treeMap((n, b) => tf.sub(n, b), this.magnitudeOpt.getParams(mag), base);
      const dirStep = treeMap((n, b) => tf.sub(n, b), this.directionOpt.getParams(dir), base);
      const stepSize = tf.div(treeNorm(magStep), treeNorm(dirStep));
      const params = treeMap((b, d) => tf.add(b, tf.mul(d, stepSize)), base, dirStep) as P;
      return {
        params,
        magOptState: this.magnitudeOpt.setParams(mag, params),
        dirOptState: this.directionOpt.setParams(dir, params),
      };
    });
    return { iteration: increment(s.iteration), modelState: opts.modelState, ...out };
  }

  /** `Grafted_<magnitude name>_<direction name>`. */
  override get name(): string {
    return `Grafted_${this.magnitudeOpt.name}_${this.directionOpt.name}`;
  }
}
