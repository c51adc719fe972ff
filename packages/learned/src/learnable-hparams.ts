import { Adam, type InitOptions, type Optimizer, SGD, SGDM, stackedAdamStep } from '@lopt/optimizers';
import { type PRNGKey, type PyTree, treeFlatten, treeUnflatten } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { LearnedOptimizer } from './learned-optimizer.js';
import { checkStacked } from './stacked.js';
import { type StackedOptState, type StackedUpdateOptions, VectorizedOptimizer } from './vectorized-optimizer.js';

// `log(1 - x)` and its inverse: decays near 1 live on an unbounded scale.
const oneMinusLog = (x: number): number => Math.log(1 - x);

/**
 * The `Optimizer` that `optFn` of `LearnableSGD`, `LearnableSGDM` and `LearnableAdam`
 * returns. Its hyperparameters are tensors computed from theta (so meta-gradients reach
 * theta through them); `dispose()` frees those tensors once the optimizer is no longer
 * used. States made with it do not hold them.
 */
export type DisposableOptimizer<O extends Optimizer = Optimizer> = O & {
  /** Frees the hyperparameter tensors that `optFn` made for this optimizer. */
  dispose(): void;
};

// Runs `make` in an engine scope to learn every tensor it makes (the hyperparameters and
// what the optimizer's constructor derives from them), keeps them all, and gives the
// optimizer a dispose() that frees them. Called inside tf.tidy, the tidy still frees them.
function hyperparameters<O extends Optimizer>(make: () => O): DisposableOptimizer<O> {
  const engine = tf.engine();
  engine.startScope('optFn');
  let made: tf.Tensor[] = [];
  try {
    const opt = make();
    made = engine.state.activeScope.track.slice();
    return Object.assign(opt, { dispose: () => tf.dispose(made) });
  } finally {
    engine.endScope(made);
  }
}

// `1 - exp(x)`, the inverse of `oneMinusLog`.
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
  /** SGD (optax's `sgd`) with learning rate `exp(theta.logLr)`; `dispose()` frees that tensor. */
  optFn(theta: LearnableSGDTheta): DisposableOptimizer<SGD> {
    return hyperparameters(() => new SGD(tf.exp(theta.logLr) as tf.Scalar));
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
    return {
      logLr: tf.scalar(Math.log(this.initialLr)),
      oneMinusMomentum: tf.scalar(oneMinusLog(this.initialMomentum)),
    };
  }
  /**
   * SGD with momentum (`optax.sgd(lr, momentum)`) at the hyperparameters of `theta`;
   * `dispose()` frees their tensors.
   */
  optFn(theta: LearnableSGDMTheta): DisposableOptimizer<SGDM> {
    return hyperparameters(
      () => new SGDM(tf.exp(theta.logLr) as tf.Scalar, oneMinusLogInverse(theta.oneMinusMomentum)),
    );
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
   * `Adam` (with `epsRoot` 1e-8, as the reference) at the hyperparameters of `theta`.
   * The hyperparameter tensors are made here: `dispose()` the optimizer when done with
   * it (or call `optFn` inside `tf.tidy`).
   */
  optFn(theta: LearnableAdamTheta): DisposableOptimizer<Adam> {
    return hyperparameters(
      () =>
        new Adam(tf.exp(theta.logLr) as tf.Scalar, {
          b1: oneMinusLogInverse(theta.oneMinusBeta1),
          b2: oneMinusLogInverse(theta.oneMinusBeta2),
          eps: tf.exp(theta.logEpsilon) as tf.Scalar,
          epsRoot: EPSILON_ROOT,
        }),
    );
  }
  /**
   * The optimizer of K problems at once, problem k with the hyperparameters of
   * `thetas[k]`, as one batched computation. Its
   * states are K states of `optFn`'s `Adam` stacked leaf by leaf on a leading axis
   * (params and moments `[K, ...]`, counts `[K]`), its gradients are stacked the same
   * way, and the hyperparameters are `[K]` vectors broadcast over them. The math is
   * `Adam`'s (bias-corrected moments, `epsRoot` 1e-8 inside the square root as
   * `sqrt(nu + epsRoot * bc2)`), so the values are those of K separate
   * `optFn(thetas[k])` updates up to float32 rounding.
   */
  override vectorizedOptFn(thetas: LearnableAdamTheta[], _isTraining = false): VectorizedOptimizer {
    if (thetas.length === 0) throw new Error('LearnableAdam.vectorizedOptFn: needs at least one theta');
    return new VectorizedLearnableAdamOptimizer(thetas);
  }

  override get name(): string {
    return 'LearnableAdam';
  }
}

/** K states of `LearnableAdam`'s `Adam` stacked: params and moments `[K, ...]`, counts `[K]`. */
export interface StackedLearnableAdamState<P = unknown> extends StackedOptState<P> {
  /** Adam's stacked state (counts `[K]`, moments shaped as the params) and the learning rate's (empty). */
  optaxOptState: [{ count: tf.Tensor1D; mu: P; nu: P }, Record<string, never>];
}

class VectorizedLearnableAdamOptimizer extends VectorizedOptimizer {
  readonly numProblems: number;

  constructor(private readonly thetas: LearnableAdamTheta[]) {
    super();
    this.numProblems = thetas.length;
  }

  init<P>(params: P, opts: InitOptions = {}): StackedLearnableAdamState<P> {
    const k = this.thetas.length;
    const zeros = (t: P) =>
      treeUnflatten<tf.Tensor, P>(
        treeFlatten(t as PyTree)[1],
        (treeFlatten(t as PyTree)[0] as tf.Tensor[]).map((x) => tf.zerosLike(x)),
      );
    return {
      params,
      modelState: opts.modelState,
      iteration: tf.zeros<tf.Rank.R1>([k], 'int32'),
      optaxOptState: [{ count: tf.zeros<tf.Rank.R1>([k], 'int32'), mu: zeros(params), nu: zeros(params) }, {}],
    };
  }

  update<P>(state: StackedOptState<P>, grads: P, opts: StackedUpdateOptions = {}): StackedLearnableAdamState<P> {
    const s = state as StackedLearnableAdamState<P>;
    const K = this.thetas.length;
    const adam = Array.isArray(s.optaxOptState) ? s.optaxOptState[0] : undefined;
    if (!adam || !('mu' in adam) || !('nu' in adam) || !('count' in adam)) {
      throw new Error(
        'LearnableAdam: the stacked state is not a state of its Adam (optaxOptState[0] needs count, mu, nu)',
      );
    }
    checkStacked('LearnableAdam', 'count', adam.count, K);
    checkStacked('LearnableAdam', 'iteration', s.iteration, K);
    const [ps, def] = treeFlatten(s.params as PyTree);
    const gs = treeFlatten(grads as PyTree)[0] as tf.Tensor[];
    const ms = treeFlatten(adam.mu as PyTree)[0] as tf.Tensor[];
    const vs = treeFlatten(adam.nu as PyTree)[0] as tf.Tensor[];
    (ps as tf.Tensor[]).forEach((p, i) => {
      for (const [what, x] of [
        ['gradient', gs[i]],
        ['first moment', ms[i]],
        ['second moment', vs[i]],
      ] as const) {
        if (!(x instanceof tf.Tensor) || !tf.util.arraysEqual(x.shape, p.shape)) {
          const got = x instanceof tf.Tensor ? `[${x.shape.join(', ')}]` : String(x);
          throw new Error(
            `LearnableAdam.update: ${what} leaf ${i} has shape ${got} but its parameter has [${p.shape.join(', ')}]`,
          );
        }
      }
      checkStacked('LearnableAdam', `parameter leaf ${i}`, p, K);
    });
    const count = tf.tidy(() => tf.add<tf.Tensor1D>(adam.count, tf.scalar(1, adam.count.dtype)));
    const out = tf.tidy(() => {
      const stack = (f: (t: LearnableAdamTheta) => tf.Scalar) => tf.stack(this.thetas.map(f)) as tf.Tensor1D;
      // optFn's hyperparameters, one per problem: `Adam`'s step with the learning rate folded in.
      const hp = {
        b1: tf.sub(1, tf.exp(stack((t) => t.oneMinusBeta1))),
        b2: tf.sub(1, tf.exp(stack((t) => t.oneMinusBeta2))),
        eps: tf.exp(stack((t) => t.logEpsilon)),
        epsRoot: EPSILON_ROOT,
        nesterov: false,
        factor: tf.neg(tf.exp(stack((t) => t.logLr))),
        count: adam.count,
      };
      // `stackedAdamStep` broadcasts per-problem values over leaves of one rank.
      const byRank = new Map<number, number[]>();
      (ps as tf.Tensor[]).forEach((p, i) => {
        byRank.set(p.rank, [...(byRank.get(p.rank) ?? []), i]);
      });
      const n = ps.length;
      const next = { p: new Array<tf.Tensor>(n), mu: new Array<tf.Tensor>(n), nu: new Array<tf.Tensor>(n) };
      for (const group of byRank.values()) {
        const pick = (xs: tf.Tensor[]) => group.map((i) => xs[i]!);
        const [u, mu, nu] = stackedAdamStep(pick(gs), pick(ms), pick(vs), hp);
        group.forEach((i, j) => {
          next.p[i] = tf.add((ps as tf.Tensor[])[i]!, u[j]!);
          next.mu[i] = mu[j]!;
          next.nu[i] = nu[j]!;
        });
      }
      return next;
    });
    return {
      params: treeUnflatten<tf.Tensor, P>(def, out.p),
      modelState: opts.modelState,
      iteration: tf.tidy(() => tf.add<tf.Tensor1D>(s.iteration, tf.scalar(1, s.iteration.dtype))),
      optaxOptState: [
        { count, mu: treeUnflatten<tf.Tensor, P>(def, out.mu), nu: treeUnflatten<tf.Tensor, P>(def, out.nu) },
        s.optaxOptState[1],
      ],
    };
  }

  override get name(): string {
    return 'LearnableAdam';
  }
}

/** `Adam`'s `epsRoot` in `LearnableAdam` (the reference's). */
const EPSILON_ROOT = 1e-8;
