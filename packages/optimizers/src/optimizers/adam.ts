import { chain } from '../chain.js';
import { formatHyperparam as f } from '../format-name.js';
import { checkRange, type Hyperparam } from '../hyperparams.js';
import { OptaxOptimizer } from '../optax-optimizer.js';
import type { ScalarOrSchedule } from '../schedules/schedule.js';
import { scaleByAdam } from '../transforms/scale-by-adam.js';
import { scaleByLearningRate } from '../transforms/scale-by-learning-rate.js';

/** Options of `Adam` (the reference's defaults). */
export interface AdamOptions {
  /** Decay of the first moment (default 0.9). */
  beta1?: Hyperparam;
  /** Decay of the second moment (default 0.999). */
  beta2?: Hyperparam;
  /** Added to the denominator outside the square root (default 1e-8). */
  epsilon?: Hyperparam;
  /**
   * Added to the second moment inside the square root (default 1e-8, as the reference).
   * It also keeps the derivative of the square root finite where the moment is 0.
   */
  epsilonRoot?: Hyperparam;
}

/**
 * Adam (Kingma & Ba, 2015), as the reference's `Adam`: optax's `adam` with
 * `epsilonRoot` 1e-8. Every hyperparameter may be a number or a scalar tensor.
 */
export class Adam extends OptaxOptimizer {
  /** The learning rate (a value or a schedule). */
  readonly learningRate: ScalarOrSchedule;
  /** Decay of the first moment. */
  readonly beta1: Hyperparam;
  /** Decay of the second moment. */
  readonly beta2: Hyperparam;
  /** Added to the denominator outside the square root. */
  readonly epsilon: Hyperparam;
  /** Added to the second moment inside the square root. */
  readonly epsilonRoot: Hyperparam;

  constructor(learningRate: ScalarOrSchedule = 0.01, opts: AdamOptions = {}) {
    const { beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8, epsilonRoot = 1e-8 } = opts;
    checkRange('Adam', 'learningRate', typeof learningRate === 'function' ? undefined : learningRate, { min: 0 });
    checkRange('Adam', 'beta1', beta1, { min: 0, max: 1, maxExclusive: true });
    checkRange('Adam', 'beta2', beta2, { min: 0, max: 1, maxExclusive: true });
    checkRange('Adam', 'epsilon', epsilon, { min: 0 });
    checkRange('Adam', 'epsilonRoot', epsilonRoot, { min: 0 });
    super(chain(scaleByAdam({ b1: beta1, b2: beta2, eps: epsilon, epsRoot: epsilonRoot }), scaleByLearningRate(learningRate)));
    this.learningRate = learningRate;
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.epsilon = epsilon;
    this.epsilonRoot = epsilonRoot;
  }

  /** `Adam_lr<lr>_b1<beta1>_b2<beta2>_eps<epsilon>_epsroot<epsilonRoot>`, as the reference. */
  override get name(): string {
    return `Adam_lr${f(this.learningRate)}_b1${f(this.beta1)}_b2${f(this.beta2)}_eps${f(this.epsilon)}_epsroot${f(this.epsilonRoot)}`;
  }
}
