import { tidy, treeMap } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { checkGrads } from '../checks.js';
import { increment } from '../hyperparams.js';
import { type InitOptions, Optimizer, type OptState, type UpdateOptions } from '../optimizer.js';
import { cloneTree } from '../tree-ops.js';

/** State of `GradientAccumulator`. */
export interface GradientAccumulatorState<P = unknown> extends OptState<P> {
  /** Sum of the gradients since the last inner step. */
  gradAccum: P;
  /** Sum of the losses since the last inner step. */
  lossAccum: tf.Scalar;
  /** The inner optimizer's state. */
  innerOptState: OptState<P>;
}

/**
 * Gradient accumulation (the reference's `GradientAccumulator`): gradients (and losses)
 * are summed over `numAverage` calls, and every `numAverage`-th call gives their mean to
 * the inner optimizer. `params` mirrors the inner optimizer's params.
 *
 * Whether a call steps is decided by reading the iteration count (one scalar read).
 */
export class GradientAccumulator extends Optimizer {
  /** The inner optimizer. */
  readonly opt: Optimizer;
  /** How many gradients are averaged per inner step. */
  readonly numAverage: number;

  constructor(opt: Optimizer, numAverage = 1) {
    super();
    if (!Number.isInteger(numAverage) || numAverage < 1) {
      throw new Error(`GradientAccumulator: numAverage must be a positive integer, got ${numAverage}`);
    }
    this.opt = opt;
    this.numAverage = numAverage;
  }

  /** Zero accumulators and the inner state (with `numSteps` divided by `numAverage`). */
  override init<P>(params: P, opts: InitOptions = {}): GradientAccumulatorState<P> {
    const numSteps = opts.numSteps === undefined ? undefined : Math.floor(opts.numSteps / this.numAverage);
    const innerOptState = this.opt.init(params, { ...opts, numSteps });
    return {
      params: this.opt.getParams(innerOptState),
      modelState: opts.modelState,
      iteration: tf.scalar(0, 'int32'),
      gradAccum: treeMap((p) => tf.zerosLike(p), params) as P,
      lossAccum: tf.scalar(0),
      innerOptState,
    };
  }

  /** Accumulates `grads`; every `numAverage`-th call applies the mean. */
  override update<P>(state: OptState<P>, grads: P, opts: UpdateOptions = {}): GradientAccumulatorState<P> {
    const s = state as GradientAccumulatorState<P>;
    if (!s.gradAccum || !s.innerOptState) {
      throw new Error(`${this.name}: the state has no gradAccum/innerOptState (a state of another optimizer?)`);
    }
    checkGrads(this.name, s.gradAccum, grads);
    const step = (s.iteration.dataSync()[0]! + 1) % this.numAverage === 0;
    const n = this.numAverage;
    const out = tidy(() => {
      const acc = treeMap((a, g) => tf.add(a, g), s.gradAccum, grads) as P;
      const lossAcc = tf.add(s.lossAccum, opts.loss ?? 0) as tf.Scalar;
      if (!step) {
        // The inner state is carried over, so it is cloned: the old state may be disposed.
        return { gradAccum: acc, lossAccum: lossAcc, innerOptState: cloneTree(s.innerOptState) };
      }
      const mean = treeMap((a) => tf.div(a, n), acc) as P;
      const innerOptState = this.opt.update(s.innerOptState, mean, {
        ...opts,
        loss: tf.div(lossAcc, n) as tf.Scalar,
      });
      return {
        gradAccum: treeMap((a) => tf.zerosLike(a), acc) as P,
        lossAccum: tf.scalar(0),
        innerOptState,
      };
    });
    return {
      ...out,
      params: this.opt.getParams(out.innerOptState),
      modelState: opts.modelState,
      iteration: increment(s.iteration),
    };
  }

  /** The inner optimizer's params. */
  override getParams<P>(state: OptState<P>): P {
    return this.opt.getParams((state as GradientAccumulatorState<P>).innerOptState);
  }

  /** A copy of `state` with the inner params replaced. */
  override setParams<P>(state: OptState<P>, params: P): OptState<P> {
    const s = state as GradientAccumulatorState<P>;
    const innerOptState = this.opt.setParams(s.innerOptState, params);
    return { ...s, params, innerOptState } as GradientAccumulatorState<P>;
  }

  /** `GradientAccumulator_<n>_<inner name>`. */
  override get name(): string {
    return `GradientAccumulator_${this.numAverage}_${this.opt.name}`;
  }
}
