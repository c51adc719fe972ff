import { type PyTree, tidy, treeLeaves, treeMap } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { formatHyperparam } from '../format-name.js';
import type { Hyperparam } from '../hyperparams.js';
import { type InitOptions, Optimizer, type OptState, type UpdateOptions } from '../optimizer.js';

/**
 * Adds L2 weight decay to any optimizer (the reference's `WeightDecayWrapper`): the
 * gradients get `weightDecay * params` and, when `addToLoss` (default true) and a loss is
 * given, the loss passed on gets `weightDecay * sum(params^2)`.
 */
export class WeightDecayWrapper extends Optimizer {
  /** The wrapped optimizer. */
  readonly opt: Optimizer;
  /** The decay coefficient. */
  readonly weightDecay: Hyperparam;
  /** Whether the loss passed on includes the penalty. */
  readonly addToLoss: boolean;

  constructor(opt: Optimizer, weightDecay: Hyperparam = 0, addToLoss = true) {
    super();
    this.opt = opt;
    this.weightDecay = weightDecay;
    this.addToLoss = addToLoss;
  }

  /** `opt`'s initial state. */
  override init<P>(params: P, opts?: InitOptions): OptState<P> {
    return this.opt.init(params, opts);
  }

  /** `opt`'s update with decayed gradients. */
  override update<P>(state: OptState<P>, grads: P, opts: UpdateOptions = {}): OptState<P> {
    const ps = this.opt.getParams(state);
    const wd = this.weightDecay;
    const { g, loss } = tidy(() => ({
      g: treeMap((x, p) => tf.add(x, tf.mul(p, wd)), grads, ps) as P,
      loss:
        this.addToLoss && opts.loss
          ? (tf.add(
              opts.loss,
              tf.mul(tf.addN(treeLeaves(ps as PyTree).map((p) => tf.sum(tf.square(p)))), wd),
            ) as tf.Scalar)
          : undefined,
    }));
    const out = this.opt.update(state, g, { ...opts, loss: loss ?? opts.loss });
    tf.dispose([g as unknown as tf.TensorContainer, loss ?? []]);
    return out;
  }

  /** `opt`'s params. */
  override getParams<P>(state: OptState<P>): P {
    return this.opt.getParams(state);
  }

  /** `opt`'s model state. */
  override getState<P>(state: OptState<P>): unknown {
    return this.opt.getState(state);
  }

  /** `opt`'s `setParams`. */
  override setParams<P>(state: OptState<P>, params: P): OptState<P> {
    return this.opt.setParams(state, params);
  }

  /** `WeightDecay_<wd>_<opt name>`. */
  override get name(): string {
    return `WeightDecay_${formatHyperparam(this.weightDecay)}_${this.opt.name}`;
  }
}
