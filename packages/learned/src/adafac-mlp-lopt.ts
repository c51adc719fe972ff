import { type InitOptions, Optimizer, type OptState, type UpdateOptions } from '@lopt/optimizers';
import { defineOp, gradientDepth, type PRNGKey, random, stackedOp, treeUnflatten } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { type FactoredLayout, factoredDims, factoredLayout, factoredLeaf } from './factored-layout.js';
import { safeRsqrt, tanhEmbedding } from './features.js';
import { fusedAdafacApplies, fusedAdafacStep, fusedStackedAdafacStep } from './fused-adafac-step.js';
import { LearnedOptimizer } from './learned-optimizer.js';
import { initMlp, type Linear } from './nn.js';
import { applyNormalizedMlp, leafRows } from './per-tensor.js';
import { checkParamsGrads, ravelParamsGrads } from './raveled.js';
import {
  checkStacked,
  perProblemMlp,
  ravelStacked,
  StackedSegments,
  stackedTanhEmbedding,
  swapLast,
} from './stacked.js';
import { stackTrees, unstackTree } from './stacked-trees.js';
import { tidyTree } from './tidy-tree.js';
import { type StackedOptState, type StackedUpdateOptions, VectorizedOptimizer } from './vectorized-optimizer.js';

/** Options of `AdafacMLPLOpt` (the reference's defaults). */
export interface AdafacMLPLOptOptions {
  /** Scale inside the exponential of the step magnitude (0.001). */
  expMult?: number;
  /** Scale of the step (0.001). */
  stepMult?: number;
  /** Width of the hidden layers (4). */
  hiddenSize?: number;
  /** Number of hidden layers (2). */
  hiddenLayers?: number;
  /** Initial momentum decays ([0.9, 0.99, 0.999]). */
  initialMomentumDecays?: number[];
  /** Initial second-moment decays ([0.999]). */
  initialRmsDecays?: number[];
  /** Initial Adafactor (factored second-moment) decays ([0.9, 0.99, 0.999]). */
  initialAdafactorDecays?: number[];
}

/** Meta-parameters of `AdafacMLPLOpt`. */
export interface AdafacMLPLOptTheta {
  /** Offsets of the momentum decays, on the `log(1 - decay) / 10` scale (zeros at init). */
  momentumDecays: tf.Tensor1D;
  /** Offsets of the second-moment decays (zeros at init). */
  rmsDecays: tf.Tensor1D;
  /** Offsets of the Adafactor decays (zeros at init). */
  adafactorDecays: tf.Tensor1D;
  /** The per-parameter MLP, `numInputs -> 4 -> 4 -> 2`. */
  nn: Linear[];
}

/** State of `AdafacMLPLOpt`'s optimizer (accumulators raveled over all parameters). */
export interface AdafacMLPLOptState<P> extends OptState<P> {
  /** The planned number of inner steps (-1 when not given). */
  numSteps: tf.Scalar;
  /** Momenta, `[N, numMomentumDecays]`. */
  momRolling: { m: tf.Tensor2D };
  /** Second moments, `[N, numRmsDecays]`. */
  rmsRolling: { rms: tf.Tensor2D };
  /** Adafactor accumulators, one column per decay. */
  facRollingFeatures: {
    /** Column accumulators of factored tensors, `[C, k]`. */
    vCol: tf.Tensor2D;
    /** Row accumulators of factored tensors, `[R, k]`. */
    vRow: tf.Tensor2D;
    /** Full accumulators of unfactored tensors (rank < 2), `[D, k]`. */
    vDiag: tf.Tensor2D;
  };
}

const decayToParam = (x: number): number => Math.log(1 - x) / 10;
// 1 - exp(10 * (decayToParam(init) + offset)), differentiable in the offset.
const learnedDecay = (initial: number[], offset: tf.Tensor1D): tf.Tensor1D =>
  tf.sub(1, tf.exp(tf.mul(tf.add(tf.tensor1d(initial.map(decayToParam)), offset), 10))) as tf.Tensor1D;

/**
 * The reference's `AdafacMLPLOpt` (the small "adafac MLP" learned optimizer): a tiny
 * per-parameter MLP (hidden size 4) over momentum, RMS and Adafactor-style factored
 * second-moment features at several learned decays, plus eleven tanh step embeddings;
 * step `out0 * exp(out1 * expMult) * stepMult`.
 *
 * With the default decays each parameter gets 28 tensor-normalised features: gradient,
 * parameter, 3 momenta, 1 RMS, momenta * rsqrt(RMS), rsqrt(RMS), 3 Adafactor-
 * preconditioned gradients, 3 row and 3 column accumulators, their rsqrt (3 + 3), and
 * 3 momenta preconditioned by the factored accumulators. The reference's alternative
 * scalar-math evaluation paths (`concat_weights=False`) are not provided: they compute
 * the same function. Parameters and accumulators are raveled into one matrix; the
 * Adafactor row/column means and per-tensor feature statistics are taken on each
 * tensor's own view (memory O(N)). Outside a gradient tape the update runs as one fused
 * kernel on the cpu and wasm backends (the `AdafacMLPLOpt.step` op; same values).
 * `numSteps` at `init` is optional here (the reference requires it but does not use it).
 */
export class AdafacMLPLOpt extends LearnedOptimizer<AdafacMLPLOptTheta> {
  /** Scale inside the exponential of the step magnitude. */
  readonly expMult: number;
  /** Scale of the step. */
  readonly stepMult: number;
  /** Width of the hidden layers. */
  readonly hiddenSize: number;
  /** Number of hidden layers. */
  readonly hiddenLayers: number;
  /** Initial momentum decays. */
  readonly initialMomentumDecays: number[];
  /** Initial second-moment decays. */
  readonly initialRmsDecays: number[];
  /** Initial Adafactor decays. */
  readonly initialAdafactorDecays: number[];
  private readonly layouts = new Map<string, FactoredLayout>();

  /** @param opts architecture, decays and step scales (the reference's defaults when omitted) */
  constructor(opts: AdafacMLPLOptOptions = {}) {
    super();
    this.expMult = opts.expMult ?? 0.001;
    this.stepMult = opts.stepMult ?? 0.001;
    this.hiddenSize = opts.hiddenSize ?? 4;
    this.hiddenLayers = opts.hiddenLayers ?? 2;
    this.initialMomentumDecays = opts.initialMomentumDecays ?? [0.9, 0.99, 0.999];
    this.initialRmsDecays = opts.initialRmsDecays ?? [0.999];
    this.initialAdafactorDecays = opts.initialAdafactorDecays ?? [0.9, 0.99, 0.999];
  }

  /** Number of inputs of the MLP (39 with the default decays). */
  get numInputs(): number {
    const m = this.initialMomentumDecays.length;
    const r = this.initialRmsDecays.length;
    const a = this.initialAdafactorDecays.length;
    return 2 + 2 * m + 2 * r + 6 * a + 11;
  }

  /** Zero decay offsets and the MLP's weights. */
  init(key: PRNGKey): AdafacMLPLOptTheta {
    const sizes = [...Array(this.hiddenLayers).fill(this.hiddenSize), 2];
    return {
      momentumDecays: tf.zeros([this.initialMomentumDecays.length]) as tf.Tensor1D,
      rmsDecays: tf.zeros([this.initialRmsDecays.length]) as tf.Tensor1D,
      adafactorDecays: tf.zeros([this.initialAdafactorDecays.length]) as tf.Tensor1D,
      nn: initMlp(random.foldIn(key, 0), this.numInputs, sizes),
    };
  }

  /** The optimizer that applies `theta`. */
  optFn(theta: AdafacMLPLOptTheta): Optimizer {
    return new AdafacMLPLOptOptimizer(this, theta);
  }

  /**
   * The optimizer of K problems at once, problem k driven by `thetas[k]` (the optional
   * override of `LearnedOptimizer.vectorizedOptFn`, one batched computation). Its states are K
   * `AdafacMLPLOptState`s stacked leaf by leaf on a leading axis (params `[K, ...]`,
   * accumulators `[K, rows, decays]`, `iteration` and `numSteps` `[K]`) and its gradients
   * are stacked the same way. The features of all problems are computed together (each
   * with its own learned decays); each problem's MLP runs as plain 2D matmuls. Gives the
   * values of K separate `optFn(thetas[k])` updates.
   */
  override vectorizedOptFn(thetas: AdafacMLPLOptTheta[], _isTraining = false): VectorizedOptimizer {
    if (thetas.length === 0) throw new Error('AdafacMLPLOpt.vectorizedOptFn: needs at least one theta');
    return new VectorizedAdafacMLPLOptOptimizer(this, thetas);
  }

  /** The factored layout for parameters of these shapes (cached). */
  layout(shapes: readonly (readonly number[])[]): FactoredLayout {
    const k = JSON.stringify(shapes);
    let l = this.layouts.get(k);
    if (!l) {
      l = factoredLayout(shapes);
      this.layouts.set(k, l);
    }
    return l;
  }

  override get name(): string {
    return 'AdafacMLPLOpt';
  }
}

class AdafacMLPLOptOptimizer extends Optimizer {
  constructor(
    private readonly lopt: AdafacMLPLOpt,
    private readonly theta: AdafacMLPLOptTheta,
  ) {
    super();
  }

  init<P>(params: P, opts: InitOptions = {}): AdafacMLPLOptState<P> {
    return tidyTree(() => {
      const { raveled } = ravelParamsGrads('AdafacMLPLOpt', params, params);
      const n = raveled.n;
      const l = this.lopt.layout(raveled.shapes);
      const ka = this.lopt.initialAdafactorDecays.length;
      return {
        params,
        modelState: opts.modelState,
        iteration: tf.scalar(0, 'int32'),
        numSteps: tf.scalar(opts.numSteps ?? -1),
        momRolling: { m: tf.zeros([n, this.lopt.initialMomentumDecays.length]) as tf.Tensor2D },
        rmsRolling: { rms: tf.zeros([n, this.lopt.initialRmsDecays.length]) as tf.Tensor2D },
        facRollingFeatures: {
          vCol: tf.zeros([l.numCols, ka]) as tf.Tensor2D,
          vRow: tf.zeros([l.numRows, ka]) as tf.Tensor2D,
          vDiag: tf.zeros([l.numDiag, ka]) as tf.Tensor2D,
        },
      };
    });
  }

  update<P>(state: OptState<P>, grads: P, opts: UpdateOptions = {}): AdafacMLPLOptState<P> {
    const s = state as AdafacMLPLOptState<P>;
    const lopt = this.lopt;
    return tidyTree(() => {
      const momDecay = learnedDecay(lopt.initialMomentumDecays, this.theta.momentumDecays);
      const rmsDecay = tf.clipByValue(learnedDecay(lopt.initialRmsDecays, this.theta.rmsDecays), 0, 1) as tf.Tensor1D;
      const facDecay = tf.clipByValue(
        learnedDecay(lopt.initialAdafactorDecays, this.theta.adafactorDecays),
        0,
        1,
      ) as tf.Tensor1D;
      // An int32 step count stays int32 (a plain `+ 1` would make it float32).
      const iteration = tf.add(s.iteration, tf.scalar(1, s.iteration.dtype)) as tf.Scalar;
      const [params, m, rms, vRow, vCol, vDiag] = adafacStep(this, s, grads as unknown, {
        momDecay,
        rmsDecay,
        facDecay,
      });
      return {
        params: params as P,
        modelState: opts.modelState ?? s.modelState,
        iteration,
        numSteps: s.numSteps,
        momRolling: { m },
        rmsRolling: { rms },
        facRollingFeatures: { vCol, vRow, vDiag },
      };
    });
  }

  /** The step in plain ops: the reference of `adafacStep` (and its semantics). */
  plainStep<P>(s: AdafacMLPLOptState<P>, grads: P, d: AdafacDecays): AdafacStepOutputs<P> {
    const lopt = this.lopt;
    const { momDecay, rmsDecay, facDecay } = d;
    return tidyTree(() => {
      const { raveled, p, g } = ravelParamsGrads('AdafacMLPLOpt', s.params, grads, s.momRolling.m.shape[0]);

      const m = tf.add(tf.mul(momDecay, s.momRolling.m), tf.mul(tf.sub(1, momDecay), g)) as tf.Tensor2D;
      const g2 = tf.square(g);
      const rms = tf.add(tf.mul(rmsDecay, s.rmsRolling.rms), tf.mul(tf.sub(1, rmsDecay), g2)) as tf.Tensor2D;
      const rsqrtRms = tf.rsqrt(tf.add(rms, 1e-6));
      // Features that need no per-tensor view, as one block of columns.
      const plain = tf.concat([g, p, m, rms, tf.mul(m, rsqrtRms), rsqrtRms], 1) as tf.Tensor2D;

      // Factored accumulators (means of g^2 + 1e-30 over the reduced axis, per decay),
      // each tensor on its own view.
      const gsq = tf.add(g2, 1e-30) as tf.Tensor2D;
      const { sizes, shapes } = raveled;
      const f = s.facRollingFeatures;
      const isFac = shapes.map((sh) => factoredDims(sh) !== null);
      const rowSizes = shapes.filter((_, t) => isFac[t]).map((sh) => sizeWithout(sh, factoredDims(sh)![1]));
      const colSizes = shapes.filter((_, t) => isFac[t]).map((sh) => sizeWithout(sh, factoredDims(sh)![0]));
      const prevRows = rowSizes.length > 0 ? leafRows(f.vRow, rowSizes) : [];
      const prevCols = colSizes.length > 0 ? leafRows(f.vCol, colSizes) : [];
      const prevDiag =
        sizes.length > rowSizes.length
          ? leafRows(
              f.vDiag,
              sizes.filter((_, t) => !isFac[t]),
            )
          : [];
      const gs = leafRows(gsq, sizes);
      const gl = leafRows(g, sizes);
      const ml = leafRows(m, sizes);
      const pl = leafRows(plain, sizes);
      const rowsOut: tf.Tensor2D[] = [];
      const colsOut: tf.Tensor2D[] = [];
      const diagOut: tf.Tensor2D[] = [];
      const blocks = shapes.map((shape, t) => {
        const prev = isFac[t]
          ? { row: prevRows[rowsOut.length]!, col: prevCols[colsOut.length]! }
          : { diag: prevDiag[diagOut.length]! };
        const leaf = factoredLeaf(shape, gs[t]!, gl[t]!, ml[t]!, prev, facDecay as tf.Tensor1D);
        if ('diag' in leaf.next) diagOut.push(leaf.next.diag);
        else {
          rowsOut.push(leaf.next.row);
          colsOut.push(leaf.next.col);
        }
        const fac = tf.concat(
          [
            leaf.facG,
            leaf.rowVal,
            leaf.colVal,
            tf.rsqrt(tf.add(leaf.rowVal, 1e-8)),
            tf.rsqrt(tf.add(leaf.colVal, 1e-8)),
            leaf.facMom,
          ],
          1,
        ) as tf.Tensor2D;
        return [pl[t]!, fac];
      });
      const k = lopt.initialAdafactorDecays.length;
      const stack = (xs: tf.Tensor2D[]) =>
        (xs.length === 0 ? tf.zeros([0, k]) : xs.length === 1 ? xs[0]! : tf.concat(xs, 0)) as tf.Tensor2D;
      const vRow = stack(rowsOut);
      const vCol = stack(colsOut);
      const vDiag = stack(diagOut);
      const out = applyNormalizedMlp(this.theta.nn, blocks, tanhEmbedding(s.iteration));
      const [direction, magnitude] = tf.split(out, 2, 1);
      const step = tf.mul(tf.mul(direction!, tf.exp(tf.mul(magnitude!, lopt.expMult))), lopt.stepMult);
      return [raveled.unravel(tf.sub(p, step)), m, rms, vRow, vCol, vDiag];
    });
  }

  /** The step as one fused kernel (see `fusedAdafacStep`): the kernel of `adafacStep`. */
  fusedStep<P>(s: AdafacMLPLOptState<P>, grads: P, d: AdafacDecays): AdafacStepOutputs<P> | undefined {
    const { momDecay, rmsDecay, facDecay } = d;
    const c = checkParamsGrads('AdafacMLPLOpt', s.params, grads, s.momRolling.m.shape[0]);
    const nn = this.theta.nn;
    const l0 = nn[0]!;
    const nx = l0.w.shape[0] - 11;
    const shift0 = tf.add(
      tf.matMul(tf.reshape(tanhEmbedding(s.iteration), [1, -1]), tf.slice(l0.w, [nx, 0], [-1, -1])),
      l0.b,
    );
    const f = s.facRollingFeatures;
    const out = fusedAdafacStep({
      params: c.params,
      grads: c.grads,
      m: s.momRolling.m,
      rms: s.rmsRolling.rms,
      vRow: f.vRow,
      vCol: f.vCol,
      vDiag: f.vDiag,
      momDecay,
      rmsDecay,
      facDecay,
      layers: nn,
      shift0: tf.reshape(shift0, [-1]),
      expMult: this.lopt.expMult,
      stepMult: this.lopt.stepMult,
    });
    if (!out) return undefined;
    const [leaves, ...rest] = out;
    return [treeUnflatten(c.def, leaves) as P, ...rest];
  }

  /** True when the fused kernel covers this optimizer's shape (see `fusedAdafacApplies`). */
  fusedApplies(d: AdafacDecays): boolean {
    return fusedAdafacApplies(d.rmsDecay, d.momDecay, d.facDecay, this.theta.nn);
  }

  override get name(): string {
    return 'AdafacMLPLOpt';
  }
}

/** The learned decays of one `AdafacMLPLOpt` step. */
interface AdafacDecays {
  momDecay: tf.Tensor1D;
  rmsDecay: tf.Tensor1D;
  facDecay: tf.Tensor1D;
}

/** New params, momenta, second moments and factored accumulators (row, column, full). */
type AdafacStepOutputs<P> = [P, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];

/**
 * One `AdafacMLPLOpt` step (the per-problem optimizer's update): the plain ops define it;
 * the fused kernel (no VJP) runs it on cpu and wasm when no gradient tape records
 * (applying a trained optimizer, ES/PES perturbations) and the learned optimizer has one
 * RMS decay, as many momentum as Adafactor decays and a two-output MLP.
 */
const adafacStep = defineOp<
  [AdafacMLPLOptOptimizer, AdafacMLPLOptState<unknown>, unknown, AdafacDecays],
  AdafacStepOutputs<unknown>
>({
  name: 'AdafacMLPLOpt.step',
  reference: (o, s, grads, d) => o.plainStep(s, grads, d),
  kernel: (o, s, grads, d) => o.fusedStep(s, grads, d),
  applies: (o, _s, _g, d) => o.fusedApplies(d),
  vjpOrder: 0,
});

/**
 * K `AdafacMLPLOptState`s stacked: params `[K, ...]`, accumulators `[K, rows, decays]`,
 * `iteration` and `numSteps` `[K]`.
 */
export interface StackedAdafacMLPLOptState<P = unknown> extends StackedOptState<P> {
  /** Planned steps of each problem (-1 when unknown), `[K]`. */
  numSteps: tf.Tensor1D;
  /** Momenta, `[K, N, decays]`. */
  momRolling: { m: tf.Tensor3D };
  /** Second moments, `[K, N, 1]`. */
  rmsRolling: { rms: tf.Tensor3D };
  /** Factored accumulators, `[K, rows, decays]` each. */
  facRollingFeatures: { vCol: tf.Tensor3D; vRow: tf.Tensor3D; vDiag: tf.Tensor3D };
}

/** The learned decays of K problems, `[K, decays]` each. */
interface StackedAdafacDecays {
  momDecay: tf.Tensor2D;
  rmsDecay: tf.Tensor2D;
  facDecay: tf.Tensor2D;
}

/** `AdafacStepOutputs` of K problems stacked: params `[K, ...]`, accumulators `[K, rows, decays]`. */
type StackedAdafacOutputs<P> = [P, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];

type AdafacStepArgs = [AdafacMLPLOptOptimizer, AdafacMLPLOptState<unknown>, unknown, AdafacDecays];
type StackedAdafacStepArgs = [
  VectorizedAdafacMLPLOptOptimizer,
  StackedAdafacMLPLOptState<unknown>,
  unknown,
  StackedAdafacDecays,
];

/**
 * K problems' `AdafacMLPLOpt.step` (`adafacStep` over a leading axis, `stackedOp`): its
 * reference is the single-problem step once per problem. Its fast path, where no
 * gradient tape records, is the single-problem fused kernel's arithmetic for all K
 * problems in one kernel call (`stackedFusedBody`: no per-problem slices, stacks or
 * step embeddings); under a tape, the one stacked computation in plain ops
 * (`stackedPlainStep`), kept because it is about 2x faster than K single-problem steps
 * in plain ops. Measured in one process, wasm, K = 8, the FashionMnist8 MLP's parameters,
 * blocks alternated, loaded 2-core machine: fused per problem 56 ms vs stacked plain ops
 * 178 ms without a tape; under a tape stacked plain ops 571 ms vs per-problem plain ops
 * 1085 ms; fast paths off 167 vs 306 ms. A PES outer step with 8 problems (20 inner
 * steps) makes ~3,400 ops with the kernel once per problem and ~2,000 fewer with one call.
 */
const stackedAdafacStep = stackedOp<
  AdafacStepArgs,
  AdafacStepOutputs<unknown>,
  StackedAdafacStepArgs,
  StackedAdafacOutputs<unknown>
>(adafacStep, {
  name: 'AdafacMLPLOpt.step.stacked',
  split: (o, s, grads, d) => o.split(s, grads, d),
  stack: (rs) => stackOutputs(rs),
  kernel: {
    run: (o, s, grads, d) =>
      (gradientDepth() > 0 ? undefined : o.fusedStackedStep(s, grads, d)) ?? o.stackedPlainStep(s, grads, d),
    // Under a tape the stacked plain ops run, differentiable to every order.
    vjpOrder: Number.POSITIVE_INFINITY,
  },
});

function stackOutputs(rs: AdafacStepOutputs<unknown>[]): StackedAdafacOutputs<unknown> {
  const params = stackTrees(rs.map((r) => r[0]));
  if (params === undefined) throw new Error("AdafacMLPLOpt (vectorized): the problems' parameters differ in shape");
  const acc = (j: number) => tf.stack(rs.map((r) => r[j] as tf.Tensor)) as tf.Tensor3D;
  return [params, acc(1), acc(2), acc(3), acc(4), acc(5)];
}

class VectorizedAdafacMLPLOptOptimizer extends VectorizedOptimizer {
  readonly numProblems: number;
  private readonly problems: AdafacMLPLOptOptimizer[] = [];

  constructor(
    private readonly lopt: AdafacMLPLOpt,
    private readonly thetas: AdafacMLPLOptTheta[],
  ) {
    super();
    this.numProblems = thetas.length;
  }

  init<P>(params: P, opts: InitOptions = {}): StackedAdafacMLPLOptState<P> {
    return tidyTree(() => {
      const K = this.thetas.length;
      const r = ravelStacked('AdafacMLPLOpt', params, params, K);
      const l = this.lopt.layout(r.shapes);
      const ka = this.lopt.initialAdafactorDecays.length;
      const z = (rows: number, cols: number) => tf.zeros<tf.Rank.R3>([K, rows, cols]);
      return {
        params,
        modelState: opts.modelState,
        iteration: tf.zeros<tf.Rank.R1>([K], 'int32'),
        numSteps: tf.fill<tf.Rank.R1>([K], opts.numSteps ?? -1),
        momRolling: { m: z(r.n, this.lopt.initialMomentumDecays.length) },
        rmsRolling: { rms: z(r.n, this.lopt.initialRmsDecays.length) },
        facRollingFeatures: { vCol: z(l.numCols, ka), vRow: z(l.numRows, ka), vDiag: z(l.numDiag, ka) },
      };
    });
  }

  update<P>(state: StackedOptState<P>, grads: P, opts: StackedUpdateOptions = {}): StackedAdafacMLPLOptState<P> {
    const s = state as StackedAdafacMLPLOptState<P>;
    if (!s.momRolling?.m || !s.facRollingFeatures) {
      throw new Error(
        'AdafacMLPLOpt (vectorized): the state is not a stacked AdafacMLPLOpt state (momRolling, facRollingFeatures)',
      );
    }
    const lopt = this.lopt;
    const K = this.thetas.length;
    checkStacked('AdafacMLPLOpt', 'momRolling.m', s.momRolling.m, K);
    checkStacked('AdafacMLPLOpt', 'iteration', s.iteration, K);
    return tidyTree(() => {
      // Each problem's decays, `[K, decays]`.
      const decays = (initial: number[], pick: (t: AdafacMLPLOptTheta) => tf.Tensor1D, clip: boolean) => {
        const d = learnedDecay(initial, tf.stack(this.thetas.map(pick)) as tf.Tensor1D);
        return (clip ? tf.clipByValue(d, 0, 1) : d) as unknown as tf.Tensor2D;
      };
      const d: StackedAdafacDecays = {
        momDecay: decays(lopt.initialMomentumDecays, (t) => t.momentumDecays, false),
        rmsDecay: decays(lopt.initialRmsDecays, (t) => t.rmsDecays, true),
        facDecay: decays(lopt.initialAdafactorDecays, (t) => t.adafactorDecays, true),
      };
      const [params, m, rms, vRow, vCol, vDiag] = stackedAdafacStep(this, s, grads, d);
      return {
        params: params as P,
        modelState: opts.modelState ?? s.modelState,
        iteration: tf.add<tf.Tensor1D>(s.iteration, tf.scalar(1, s.iteration.dtype)),
        numSteps: s.numSteps,
        momRolling: { m },
        rmsRolling: { rms },
        facRollingFeatures: { vCol, vRow, vDiag },
      };
    });
  }

  /** Problem k's single-problem optimizer (made once: it holds no tensors of its own). */
  problem(k: number): AdafacMLPLOptOptimizer {
    this.problems[k] ??= new AdafacMLPLOptOptimizer(this.lopt, this.thetas[k]!);
    return this.problems[k]!;
  }

  /**
   * The K problems' step as one fused kernel call (each problem's arithmetic is the
   * single-problem kernel's), or `undefined` where the kernel does not apply or is not
   * registered.
   */
  fusedStackedStep<P>(
    s: StackedAdafacMLPLOptState<P>,
    grads: P,
    d: StackedAdafacDecays,
  ): StackedAdafacOutputs<P> | undefined {
    const K = this.thetas.length;
    const nns = this.thetas.map((t) => t.nn);
    const last = nns[0]![nns[0]!.length - 1]!;
    if (d.rmsDecay.shape[1] !== 1 || d.momDecay.shape[1] !== d.facDecay.shape[1] || last.w.shape[1] !== 2) {
      return undefined;
    }
    const c = checkParamsGrads('AdafacMLPLOpt', s.params, grads, K * s.momRolling.m.shape[1]);
    c.params.forEach((p, i) => checkStacked('AdafacMLPLOpt', `parameter leaf ${i}`, p, K));
    const layers = nns[0]!.map((_, l) => ({
      w: tf.stack(nns.map((n) => n[l]!.w)) as tf.Tensor3D,
      b: tf.stack(nns.map((n) => n[l]!.b)) as tf.Tensor2D,
    }));
    const l0 = layers[0]!;
    const nx = l0.w.shape[1] - 11;
    const emb = tf.reshape(stackedTanhEmbedding(s.iteration), [K, 1, -1]) as tf.Tensor3D;
    const shift0 = tf.add(
      tf.reshape(tf.matMul(emb, tf.slice(l0.w, [0, nx, 0], [-1, -1, -1]) as tf.Tensor3D), [K, -1]),
      l0.b,
    ) as tf.Tensor2D;
    const f = s.facRollingFeatures;
    const out = fusedStackedAdafacStep({
      params: c.params,
      grads: c.grads,
      m: s.momRolling.m,
      rms: s.rmsRolling.rms,
      vRow: f.vRow,
      vCol: f.vCol,
      vDiag: f.vDiag,
      momDecay: d.momDecay,
      rmsDecay: d.rmsDecay,
      facDecay: d.facDecay,
      layers,
      shift0,
      expMult: this.lopt.expMult,
      stepMult: this.lopt.stepMult,
    });
    if (!out) return undefined;
    const [leaves, m, rms, vRow, vCol, vDiag] = out;
    return [treeUnflatten(c.def, leaves) as P, m, rms, vRow, vCol, vDiag];
  }

  /** The K problems' step as K single-problem steps' arguments (slices of the stacked ones). */
  split<P>(s: StackedAdafacMLPLOptState<P>, grads: P, d: StackedAdafacDecays): AdafacStepArgs[] {
    const K = this.thetas.length;
    const who = 'AdafacMLPLOpt (vectorized) update';
    const ps = unstackTree<unknown>(s.params, K, who);
    const gs = unstackTree<unknown>(grads, K, who);
    const rows = (x: tf.Tensor) =>
      x.size === 0 ? Array.from({ length: K }, () => tf.zeros(x.shape.slice(1))) : tf.unstack(x);
    const [m, rms, vRow, vCol, vDiag] = [
      s.momRolling.m,
      s.rmsRolling.rms,
      s.facRollingFeatures.vRow,
      s.facRollingFeatures.vCol,
      s.facRollingFeatures.vDiag,
    ].map((x) => rows(x) as tf.Tensor2D[]);
    const its = tf.unstack(s.iteration) as tf.Scalar[];
    const steps = tf.unstack(s.numSteps) as tf.Scalar[];
    const [mom, rmsD, fac] = [d.momDecay, d.rmsDecay, d.facDecay].map((x) => tf.unstack(x) as tf.Tensor1D[]);
    return Array.from(
      { length: K },
      (_, k): AdafacStepArgs => [
        this.problem(k),
        {
          params: ps[k],
          modelState: undefined,
          iteration: its[k]!,
          numSteps: steps[k]!,
          momRolling: { m: m![k]! },
          rmsRolling: { rms: rms![k]! },
          facRollingFeatures: { vRow: vRow![k]!, vCol: vCol![k]!, vDiag: vDiag![k]! },
        },
        gs[k],
        { momDecay: mom![k]!, rmsDecay: rmsD![k]!, facDecay: fac![k]! },
      ],
    );
  }

  /**
   * The K problems' step as one computation in plain ops: features of all problems
   * together (segment sums as matmuls with dense membership matrices), each problem's
   * MLP as plain 2D matmuls. The same values as K single-problem steps (the reference of
   * `stackedAdafacStep`), about twice as fast as them where they run in plain ops.
   */
  stackedPlainStep<P>(s: StackedAdafacMLPLOptState<P>, grads: P, dd: StackedAdafacDecays): StackedAdafacOutputs<P> {
    const lopt = this.lopt;
    const K = this.thetas.length;
    return tidyTree(() => {
      const r = ravelStacked('AdafacMLPLOpt', s.params, grads, K, s.momRolling.m.shape[1]);
      const n = r.n;
      const layout = lopt.layout(r.shapes);
      const rowsSeg = new StackedSegments(layout.rowIds, layout.numRows + layout.numDiag);
      const colsSeg = new StackedSegments(layout.colIds, layout.numCols + layout.numDiag);
      const groups = layout.numRows > 0 ? new StackedSegments(layout.rowGroupIds, layout.numRowGroups) : null;
      const { numRows: R, numCols: C, numDiag: D } = layout;
      const g = tf.reshape(r.g, [K, 1, n]) as tf.Tensor3D;
      const p = tf.reshape(r.p, [K, 1, n]) as tf.Tensor3D;

      // Each problem's decays, `[K, decays, 1]`.
      const col = (x: tf.Tensor2D) => tf.reshape(x, [K, x.shape[1], 1]) as tf.Tensor3D;
      const momDecay = col(dd.momDecay);
      const rmsDecay = col(dd.rmsDecay);
      const facDecay = col(dd.facDecay);
      const k = lopt.initialAdafactorDecays.length;
      const m = tf.add(tf.mul(momDecay, swapLast(s.momRolling.m)), tf.mul(tf.sub(1, momDecay), g)) as tf.Tensor3D;
      const g2 = tf.square(g) as tf.Tensor3D;
      const rms = tf.add(tf.mul(rmsDecay, swapLast(s.rmsRolling.rms)), tf.mul(tf.sub(1, rmsDecay), g2)) as tf.Tensor3D;

      // Factored accumulators: means of g^2 + 1e-30 over the reduced axis, per decay.
      const gsq = tf.add(g2, 1e-30) as tf.Tensor3D;
      const f = s.facRollingFeatures;
      const vDiag0 = swapLast(f.vDiag);
      const rowTable = tf.add(
        tf.mul(facDecay, tf.concat([swapLast(f.vRow), vDiag0], 2)),
        tf.mul(tf.sub(1, facDecay), rowsSeg.mean(gsq)),
      ) as tf.Tensor3D;
      const colTable = tf.add(
        tf.mul(facDecay, tf.concat([swapLast(f.vCol), vDiag0], 2)),
        tf.mul(tf.sub(1, facDecay), colsSeg.mean(gsq)),
      ) as tf.Tensor3D;
      const vRow = tf.slice(rowTable, [0, 0, 0], [K, k, R]) as tf.Tensor3D;
      const vDiag = tf.slice(rowTable, [0, 0, R], [K, k, D]) as tf.Tensor3D;
      const vCol = tf.slice(colTable, [0, 0, 0], [K, k, C]) as tf.Tensor3D;

      // Row and column preconditioners; ones in the diagonal slots keep the unused
      // branch of the select below finite.
      const ones = tf.ones([K, k, D]);
      const rowFactor =
        groups !== null ? safeRsqrt(tf.div(vRow, tf.add(groups.expand(groups.mean(vRow)), 1e-9))) : tf.zeros([K, k, 0]);
      const rf = rowsSeg.expand(tf.concat([rowFactor, ones], 2) as tf.Tensor3D);
      const cf = colsSeg.expand(tf.concat([safeRsqrt(vCol), ones], 2) as tf.Tensor3D);
      const rowVal = rowsSeg.expand(rowTable);
      const colVal = colsSeg.expand(colTable);
      const factored = tf.tensor3d(repeatRows(layout.isFactored, K * k), [K, k, n], 'bool');
      const facG = tf.where(factored, tf.mul(tf.mul(g, rf), cf), tf.mul(g, safeRsqrt(tf.add(rowVal, 1e-9))));
      const facMom = tf.where(factored, tf.mul(tf.mul(m, rf), cf), tf.mul(m, tf.rsqrt(tf.add(rowVal, 1e-6))));

      const rsqrtRms = tf.rsqrt(tf.add(rms, 1e-6));
      const features = tf.concat(
        [
          g,
          p,
          m,
          rms,
          tf.mul(m, rsqrtRms),
          rsqrtRms,
          facG,
          rowVal,
          colVal,
          tf.rsqrt(tf.add(rowVal, 1e-8)),
          tf.rsqrt(tf.add(colVal, 1e-8)),
          facMom,
        ],
        1,
      ) as tf.Tensor3D;
      const inp = StackedSegments.contiguous(r.sizes).secondMomentNormalize(features);
      const [direction, magnitude] = perProblemMlp(
        this.thetas.map((t) => t.nn),
        inp,
        stackedTanhEmbedding(s.iteration),
      );
      const step = tf.mul(tf.mul(direction, tf.exp(tf.mul(magnitude, lopt.expMult))), lopt.stepMult);
      const back = (x: tf.Tensor) => swapLast(x) as tf.Tensor3D;
      return [r.unravel(tf.sub(p, step)), back(m), back(rms), back(vRow), back(vCol), back(vDiag)];
    });
  }

  override get name(): string {
    return 'AdafacMLPLOpt';
  }
}

/** `mask` repeated `times` times, one after the other. */
function repeatRows(mask: Uint8Array, times: number): Uint8Array {
  const out = new Uint8Array(mask.length * times);
  for (let i = 0; i < times; i++) out.set(mask, i * mask.length);
  return out;
}

/** Elements of `shape` without axis `axis`. */
function sizeWithout(shape: readonly number[], axis: number): number {
  return shape.reduce((a, d, i) => (i === axis ? a : a * d), 1);
}
