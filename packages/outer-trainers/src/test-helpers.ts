// Tiny tasks and learned optimizers with closed-form behaviour, for tests only.
import { LearnedOptimizer, type StackedOptState, VectorizedOptimizer } from '@lopt/learned';
import { Optimizer, type OptState } from '@lopt/optimizers';
import type { PRNGKey } from '@lopt/pytree';
import { tidy } from '@lopt/pytree';
import type { Task, TaskFamily } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import type { Recipe } from './recipe.js';

/** Curvatures of the test quadratic: loss = 0.5 * sum(a * p^2), p0 = P0. */
export const A = [1, 0.5];
export const P0 = [1, -2];

export type QParams = { p: tf.Tensor1D };
export type QCfg = { a: number[] };

export function quadTask(cfg: QCfg, normScale = 1): Task<QParams, undefined, undefined> {
  const loss = (params: QParams) =>
    tf.tidy(() => tf.mul(0.5, tf.sum(tf.mul(tf.tensor1d(cfg.a), tf.square(params.p))))) as tf.Scalar;
  return {
    name: 'TestQuadratic',
    init: () => ({ p: tf.tensor1d(P0) }),
    initWithState: () => [{ p: tf.tensor1d(P0) }, undefined],
    loss,
    lossWithState: (p) => [loss(p), undefined],
    lossAndAux: (p) => [loss(p), {}],
    lossWithStateAndAux: (p) => [loss(p), undefined, {}],
    normalizer: (l) => (normScale === 1 ? tf.clone(l) : tf.mul(l, normScale)),
  };
}

/** A family of quadratics; `sample` draws a second curvature from two values when `vary`. */
export function quadFamily(
  opts: { vary?: boolean; normScale?: number } = {},
): TaskFamily<QCfg, QParams, undefined, undefined> {
  const taskFn = (cfg: QCfg) => quadTask(cfg, opts.normScale);
  const sample = (key: PRNGKey): QCfg => {
    return opts.vary ? { a: [1, (key[1]! % 2) + 0.5] } : { a: A.slice() };
  };
  return { name: 'TestQuadraticFamily', sample, taskFn, sampleTask: (k) => taskFn(sample(k)), evalTaskFn: taskFn };
}

/** p <- p - lr * g - wd * p. */
class LrWdOptimizer extends Optimizer {
  constructor(private readonly theta: LrWdTheta) {
    super();
  }
  init<P>(params: P, opts: { modelState?: unknown } = {}): OptState<P> {
    return { params, modelState: opts.modelState, iteration: tf.scalar(0, 'int32') };
  }
  update<P>(state: OptState<P>, grads: P): OptState<P> {
    return tidy(() => {
      const p = (state.params as QParams).p;
      const g = (grads as QParams).p;
      const next = tf.sub(tf.sub(p, tf.mul(this.theta.lr, g)), tf.mul(this.theta.wd, p));
      return {
        params: { p: next } as P,
        modelState: state.modelState,
        iteration: tf.add(state.iteration, tf.scalar(1, 'int32')) as tf.Scalar,
      };
    });
  }
}

export type LrWdTheta = { lr: tf.Scalar; wd: tf.Scalar };

/** A learned optimizer with theta = { lr, wd }. */
export class LrWdLOpt extends LearnedOptimizer<LrWdTheta> {
  constructor(
    readonly lr = 0.1,
    readonly wd = 0.05,
  ) {
    super();
  }
  init(): LrWdTheta {
    return { lr: tf.scalar(this.lr), wd: tf.scalar(this.wd) };
  }
  optFn(theta: LrWdTheta): Optimizer {
    return new LrWdOptimizer(theta);
  }
}

/** float64 loss at step t (before the t-th update) with per-step (lr, wd). */
export function lossesF64(schedule: [number, number][], a = A, p0 = P0): number[] {
  let p = p0.slice();
  const out: number[] = [];
  for (const [lr, wd] of schedule) {
    out.push(0.5 * p.reduce((s, x, i) => s + a[i]! * x * x, 0));
    p = p.map((x, i) => x * (1 - lr * a[i]! - wd));
  }
  return out;
}

/** Gauss-Hermite nodes and weights for E[f(z)], z ~ N(0, 1) (probabilists' form), n points. */
export function gaussHermite(n: number): { x: number[]; w: number[] } {
  // Golub-Welsch would be exact; Newton on the Hermite recurrence is enough for n <= 20.
  const x: number[] = [];
  const w: number[] = [];
  for (let i = 0; i < n; i++) {
    // Initial guesses (Numerical Recipes) for physicists' Hermite roots, largest first.
    let z: number;
    if (i === 0) z = Math.sqrt(2 * n + 1) - 1.85575 * (2 * n + 1) ** -0.16667;
    else if (i === 1) z = x[0]! - (1.14 * n ** 0.426) / x[0]!;
    else if (i === 2) z = 1.86 * x[1]! - 0.86 * x[0]!;
    else if (i === 3) z = 1.91 * x[2]! - 0.91 * x[1]!;
    else z = 2 * x[i - 1]! - x[i - 2]!;
    let pp = 0;
    for (let it = 0; it < 100; it++) {
      let p1 = Math.PI ** -0.25;
      let p2 = 0;
      for (let j = 1; j <= n; j++) {
        const p3 = p2;
        p2 = p1;
        p1 = z * Math.sqrt(2 / j) * p2 - Math.sqrt((j - 1) / j) * p3;
      }
      pp = Math.sqrt(2 * n) * p2;
      const dz = p1 / pp;
      z -= dz;
      if (Math.abs(dz) < 1e-14) break;
    }
    x.push(z);
    w.push(2 / (pp * pp));
  }
  // Physicists' (weight e^{-z^2}) -> standard normal expectation: x*sqrt(2), w/sqrt(pi).
  return { x: x.map((v) => v * Math.SQRT2), w: w.map((v) => v / Math.sqrt(Math.PI)) };
}

/** E[f(eps)] for eps ~ N(0, std^2 I_d), by a tensor-product Gauss-Hermite rule. */
export function gaussianExpectation(d: number, std: number, f: (eps: number[]) => number, n = 6): number {
  const { x, w } = gaussHermite(n);
  let total = 0;
  const idx = new Array(d).fill(0);
  for (;;) {
    let weight = 1;
    const eps = idx.map((j, i) => {
      weight *= w[j]!;
      return x[idx[i]]! * std;
    });
    total += weight * f(eps);
    let k = 0;
    while (k < d && ++idx[k] === n) idx[k++] = 0;
    if (k === d) break;
  }
  return total;
}

/** Central difference of f at x along each coordinate (float64). */
export function numericGrad(f: (x: number[]) => number, x: number[], h = 1e-5): number[] {
  return x.map((_, i) => {
    const xp = x.slice();
    const xm = x.slice();
    xp[i]! += h;
    xm[i]! -= h;
    return (f(xp) - f(xm)) / (2 * h);
  });
}

/** `LrWdLOpt` with its own `vectorizedOptFn`: K problems stacked, problem k with thetas[k]. */
export class VecLrWdLOpt extends LrWdLOpt {
  /** Calls of `vectorizedOptFn` so far. */
  calls = 0;
  override vectorizedOptFn(thetas: LrWdTheta[]): VectorizedOptimizer {
    this.calls += 1;
    return new StackedLrWdOptimizer(thetas);
  }
}

/** `LrWdOptimizer` on K stacked problems: the hyperparameters as `[K, 1]` columns. */
class StackedLrWdOptimizer extends VectorizedOptimizer {
  readonly numProblems: number;
  constructor(private readonly thetas: LrWdTheta[]) {
    super();
    this.numProblems = thetas.length;
  }
  init<P>(params: P, opts: { modelState?: unknown } = {}): StackedOptState<P> {
    return { params, modelState: opts.modelState, iteration: tf.zeros<tf.Rank.R1>([this.numProblems], 'int32') };
  }
  update<P>(state: StackedOptState<P>, grads: P): StackedOptState<P> {
    return tidy(() => {
      const column = (f: (t: LrWdTheta) => tf.Scalar) =>
        tf.reshape(tf.stack(this.thetas.map(f)), [this.numProblems, 1]);
      const p = (state.params as QParams).p;
      const g = (grads as QParams).p;
      const next = tf.sub(
        tf.sub(
          p,
          tf.mul(
            column((t) => t.lr),
            g,
          ),
        ),
        tf.mul(
          column((t) => t.wd),
          p,
        ),
      );
      return {
        params: { p: next } as P,
        modelState: state.modelState,
        iteration: tf.add<tf.Tensor1D>(state.iteration, tf.scalar(1, 'int32')),
      };
    });
  }
  get name(): string {
    return 'LrWdLOpt';
  }
}

/**
 * A recipe small enough to meta-train in a test: AdafacMLPLOpt on 4x6 image MLPs over
 * Fashion-MNIST and MNIST, PES with 2 tasks, 4 outer steps.
 */
export const TINY_RECIPE: Recipe = {
  format: 'lopt-meta-training-recipe',
  version: 1,
  name: 'tiny-test',
  seed: 3,
  learnedOptimizer: { name: 'AdafacMLPLOpt', options: { hiddenSize: 4 } },
  taskDistribution: {
    components: [
      {
        distribution: 'ImageMLPDistribution',
        options: {
          datasets: ['fashion_mnist', 'mnist'],
          imageSize: [4, 6],
          batchSize: [8, 12],
          hiddenSize: [8, 10],
          numLayers: [1],
        },
        augmentation: [{ kind: 'none' }, { kind: 'reparamWeights', range: [0.5, 2] }],
      },
    ],
  },
  estimator: { name: 'TruncatedPES', numTasks: 2, truncLength: 2 },
  truncationSchedule: { name: 'ConstantTruncationSchedule', length: 4 },
  numEstimators: 2,
  resampleEvery: 2,
  outerOptimizer: { name: 'Adam', learningRate: 1e-2, gradClip: 3 },
  outerSteps: 4,
  checkpointEvery: 2,
};
