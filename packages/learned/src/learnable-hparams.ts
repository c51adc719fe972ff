import * as tf from '@tensorflow/tfjs-core';
import { Adam, type Optimizer, SGD, SGDM } from '@lopt/optimizers';
import type { PRNGKey } from '@lopt/pytree';
import { LearnedOptimizer } from './learned-optimizer.js';

// `log(1 - x)` and its inverse: decays near 1 live on an unbounded scale.
const oneMinusLog = (x: number): number => Math.log(1 - x);
const oneMinusLogInverse = (x: tf.Tensor): tf.Scalar => tf.sub(1, tf.exp(x)) as tf.Scalar;

/** Meta-parameters of `LearnableSGD`. */
export interface LearnableSGDTheta {
  /** Natural log of the learning rate. */
  logLr: tf.Scalar;
}

/** SGD whose learning rate is learned (the reference's `LearnableSGD`). */
export class LearnableSGD extends LearnedOptimizer<LearnableSGDTheta> {
  /** @param initialLr the learning rate at initialisation (reference default 0.01) */
  constructor(readonly initialLr = 0.01) {
    super();
  }
  /** `{ logLr: ln(initialLr) }`; the key is unused. */
  init(_key: PRNGKey): LearnableSGDTheta {
    return { logLr: tf.scalar(Math.log(this.initialLr)) };
  }
  /** SGD (optax's `sgd`) with learning rate `exp(theta.logLr)`. */
  optFn(theta: LearnableSGDTheta): Optimizer {
    return new SGD(tf.exp(theta.logLr) as tf.Scalar);
  }
  override get name(): string {
    return 'LearnableSGD';
  }
}

/** Meta-parameters of `LearnableSGDM`. */
export interface LearnableSGDMTheta {
  /** Natural log of the learning rate. */
  logLr: tf.Scalar;
  /** `log(1 - momentum)`. */
  oneMinusMomentum: tf.Scalar;
}

/** SGD with momentum whose learning rate and momentum are learned (the reference's `LearnableSGDM`). */
export class LearnableSGDM extends LearnedOptimizer<LearnableSGDMTheta> {
  /**
   * @param initialLr learning rate at initialisation (reference default 0.01)
   * @param initialMomentum momentum at initialisation (reference default 0.9)
   */
  constructor(
    readonly initialLr = 0.01,
    readonly initialMomentum = 0.9,
  ) {
    super();
  }
  /** `{ logLr, oneMinusMomentum: log(1 - momentum) }`; the key is unused. */
  init(_key: PRNGKey): LearnableSGDMTheta {
    return { logLr: tf.scalar(Math.log(this.initialLr)), oneMinusMomentum: tf.scalar(oneMinusLog(this.initialMomentum)) };
  }
  /** SGD with momentum (`optax.sgd(lr, momentum)`) at the hyperparameters of `theta`. */
  optFn(theta: LearnableSGDMTheta): Optimizer {
    return new SGDM(tf.exp(theta.logLr) as tf.Scalar, oneMinusLogInverse(theta.oneMinusMomentum));
  }
  override get name(): string {
    return 'LearnableSGDM';
  }
}

/** Meta-parameters of `LearnableAdam`. */
export interface LearnableAdamTheta {
  /** Natural log of the learning rate. */
  logLr: tf.Scalar;
  /** `log(1 - beta1)`. */
  oneMinusBeta1: tf.Scalar;
  /** `log(1 - beta2)`. */
  oneMinusBeta2: tf.Scalar;
  /** Natural log of epsilon. */
  logEpsilon: tf.Scalar;
}

/** Options of `LearnableAdam` (the reference's defaults). */
export interface LearnableAdamOptions {
  /** Learning rate at initialisation (1e-3). */
  initialLr?: number;
  /** beta1 at initialisation (0.9). */
  initialBeta1?: number;
  /** beta2 at initialisation (0.999). */
  initialBeta2?: number;
  /** epsilon at initialisation (1e-8). */
  initialEpsilon?: number;
}

/**
 * Adam whose four hyperparameters are learned (the reference's `LearnableAdam`):
 * theta is `{ logLr, oneMinusBeta1, oneMinusBeta2, logEpsilon }`, initially
 * `ln 1e-3 ≈ -6.91`, `ln 0.1 ≈ -2.30`, `ln 1e-3 ≈ -6.91`, `ln 1e-8 ≈ -18.42`.
 */
export class LearnableAdam extends LearnedOptimizer<LearnableAdamTheta> {
  /** Learning rate at initialisation. */
  readonly initialLr: number;
  /** beta1 at initialisation. */
  readonly initialBeta1: number;
  /** beta2 at initialisation. */
  readonly initialBeta2: number;
  /** epsilon at initialisation. */
  readonly initialEpsilon: number;

  /** @param opts initial hyperparameters (the reference's defaults when omitted) */
  constructor(opts: LearnableAdamOptions = {}) {
    super();
    this.initialLr = opts.initialLr ?? 1e-3;
    this.initialBeta1 = opts.initialBeta1 ?? 0.9;
    this.initialBeta2 = opts.initialBeta2 ?? 0.999;
    this.initialEpsilon = opts.initialEpsilon ?? 1e-8;
  }
  /** The four scalars at their initial values; the key is unused. */
  init(_key: PRNGKey): LearnableAdamTheta {
    return {
      logLr: tf.scalar(Math.log(this.initialLr)),
      oneMinusBeta1: tf.scalar(oneMinusLog(this.initialBeta1)),
      oneMinusBeta2: tf.scalar(oneMinusLog(this.initialBeta2)),
      logEpsilon: tf.scalar(Math.log(this.initialEpsilon)),
    };
  }
  /**
   * `Adam` (with `epsilonRoot` 1e-8, as the reference) at the hyperparameters of `theta`.
   * The hyperparameter tensors are made here: call `optFn` inside `tf.tidy` (or dispose
   * them with the state) when calling it repeatedly.
   */
  optFn(theta: LearnableAdamTheta): Optimizer {
    return new Adam(tf.exp(theta.logLr) as tf.Scalar, {
      beta1: oneMinusLogInverse(theta.oneMinusBeta1),
      beta2: oneMinusLogInverse(theta.oneMinusBeta2),
      epsilon: tf.exp(theta.logEpsilon) as tf.Scalar,
      epsilonRoot: 1e-8,
    });
  }
  override get name(): string {
    return 'LearnableAdam';
  }
}
