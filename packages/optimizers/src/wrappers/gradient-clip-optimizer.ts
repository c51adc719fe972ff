import { treeMap } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { formatHyperparam } from '../format-name.js';
import { checkRange } from '../hyperparams.js';
import { type InitOptions, Optimizer, type OptState, type UpdateOptions } from '../optimizer.js';

/**
 * Clips every gradient element to `[-gradClip, gradClip]` before `opt` sees it (the
 * reference's `GradientClipOptimizer`, default clip 3). The state is `opt`'s.
 */
export class GradientClipOptimizer extends Optimizer {
  /** The wrapped optimizer. */
  readonly opt: Optimizer;
  /** The clipping bound. */
  readonly gradClip: number;

  constructor(opt: Optimizer, gradClip = 3.0) {
    super();
    if (!(opt instanceof Optimizer)) {
      throw new Error(
        `GradientClipOptimizer: opt must be an Optimizer instance (a class instead of an instance?), got ${String(opt)}`,
      );
    }
    checkRange('GradientClipOptimizer', 'gradClip', gradClip, { min: 0 });
    this.opt = opt;
    this.gradClip = gradClip;
  }

  /** `opt`'s initial state. */
  override init<P>(params: P, opts?: InitOptions): OptState<P> {
    return this.opt.init(params, opts);
  }

  /** `opt`'s update with clipped gradients. */
  override update<P>(state: OptState<P>, grads: P, opts?: UpdateOptions): OptState<P> {
    const c = this.gradClip;
    const clipped = treeMap((g) => tf.clipByValue(g, -c, c), grads) as P;
    const out = this.opt.update(state, clipped, opts);
    tf.dispose(clipped as unknown as tf.TensorContainer);
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

  /** `GradientClip_<clip>_<opt name>`. */
  override get name(): string {
    return `GradientClip_${formatHyperparam(this.gradClip)}_${this.opt.name}`;
  }
}
