import {
  addDecayedWeights,
  chain,
  factoredDims,
  type GradientTransformation,
  type InitOptions,
  Optimizer,
  type OptState,
  type ScalarOrSchedule,
  scaleByAdam,
  scaleByLearningRate,
  type UpdateOptions,
} from '@lopt/optimizers';
import { assertSameStructure, type PRNGKey, type PyTree, treeFlatten, treeUnflatten } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { type Celo2AdamWRule, celo2AdamWLeaves } from './celo2-leaves.js';
import type { Celo2Theta } from './celo2-theta.js';
import { LearnedOptimizer } from './learned-optimizer.js';
import { newtonSchulz } from './newton-schulz.js';
import { initMlp, type Linear } from './nn.js';
import { tidyTree } from './tidy-tree.js';

/** Options of `Celo2`: the reference's (`Celo2_naive`), in camelCase, with its defaults. */
export interface Celo2Options {
  /** The learning rate, a value or a schedule of the step count (1e-3). */
  learningRate?: ScalarOrSchedule;
  /** Decoupled weight decay, multiplied by the learning rate (0). */
  weightDecay?: number;
  /** Decays of the momentum accumulators ([0.9, 0.99, 0.999]). */
  momentumDecays?: readonly number[];
  /** Decays of the RMS accumulators ([0.95]). */
  rmsDecays?: readonly number[];
  /** Decays of the factored (Adafactor-style) second moments ([0.9, 0.99, 0.999]). */
  adafactorDecays?: readonly number[];
  /** Scale inside the exponential of the magnitude output: the step is `direction * exp(magnitude * expMult)` (0). */
  expMult?: number;
  /** Scale of the unit-RMS step, before the learning rate (the reference's `rmsmult`, 1). */
  rmsMult?: number;
  /** Newton–Schulz coefficients ([3.4445, −4.7750, 2.0315]). */
  nsCoeffs?: readonly [number, number, number];
  /** Newton–Schulz iterations (5). */
  nsIters?: number;
  /** `[beta1, beta2]` of the AdamW leaves ([0.9, 0.95]). */
  adamBetas?: readonly [number, number];
  /** Epsilon of the AdamW leaves, outside the square root (1e-8). */
  adamEps?: number;
  /**
   * Which leaves take AdamW instead of the learned rule, per leaf (a predicate or a mask;
   * see `celo2AdamWLeaves` for the default: leaves with at most one axis, embeddings, and
   * the first and last leaf with two or more axes).
   */
  adamw?: Celo2AdamWRule;
}

/** Accumulators of one leaf on the learned path (the reference's names, in camelCase). */
export interface Celo2LeafState {
  /** Momenta, the leaf's shape plus one axis of `momentumDecays.length`. */
  mom: tf.Tensor;
  /** RMS accumulators, the leaf's shape plus one axis of `rmsDecays.length`. */
  rms: tf.Tensor;
  /** Factored row moments (leaves with two or more axes): the shape without its largest axis, plus the decays axis. */
  facVecRow?: tf.Tensor;
  /** Factored column moments: the shape without its second-largest axis, plus the decays axis. */
  facVecCol?: tf.Tensor;
  /** Full second moments of a leaf with one axis, plus the decays axis. */
  facVecV?: tf.Tensor;
}

/** State of `Celo2`'s optimizer. */
export interface Celo2State<P = unknown> extends OptState<P> {
  /** The AdamW transformation's state over the AdamW leaves (an array, in flattening order). */
  adamw: unknown;
  /** Accumulators of the learned-path leaves, in flattening order. */
  celo2: Celo2LeafState[];
}

const HIDDEN = 8;
const OUTPUTS = 3;
// Feature groups of the first layer, in the reference's order.
const GROUPS = [
  'g',
  'clipG',
  'p',
  'mom',
  'rms',
  'momInvRms',
  'invRms',
  'facG',
  'gInvRms',
  'row',
  'col',
  'invRow',
  'invCol',
  'facMom',
] as const;
type Group = (typeof GROUPS)[number];

interface Resolved {
  learningRate: ScalarOrSchedule;
  weightDecay: number;
  momentumDecays: number[];
  rmsDecays: number[];
  adafactorDecays: number[];
  expMult: number;
  rmsMult: number;
  nsCoeffs: [number, number, number];
  nsIters: number;
  adamBetas: [number, number];
  adamEps: number;
  adamw: Celo2AdamWRule | undefined;
}

function broadcastWidth(a: number, b: number, what: string): number {
  if (a !== b && a !== 1 && b !== 1) {
    throw new Error(
      `Celo2: ${what} must have the same number of decays (or one of them a single decay), got ${a} and ${b}`,
    );
  }
  return Math.max(a, b);
}

function checkDecays(name: string, ds: readonly number[]): number[] {
  if (!Array.isArray(ds) || ds.length === 0) throw new Error(`Celo2: ${name} must be a non-empty array of decays`);
  for (const d of ds) {
    if (typeof d !== 'number' || !(d >= 0 && d < 1))
      throw new Error(`Celo2: ${name} must hold decays in [0, 1), got ${d}`);
  }
  return [...ds];
}

function checkNumber(name: string, x: number, ok: (x: number) => boolean, want: string): number {
  if (typeof x !== 'number' || !ok(x)) throw new Error(`Celo2: ${name} must be ${want}, got ${x}`);
  return x;
}

/**
 * Celo2 (“Celo2: Towards Learned Optimization Free Lunch”, arXiv 2602.19142), as PyLO's
 * `Celo2_naive`: a learned optimizer meta-trained by its authors, whose published
 * meta-parameters `celo2Theta()` bundles, so `new Celo2().optFn(celo2Theta())` trains a
 * model with no tuning and no meta-training.
 *
 * Each parameter leaf on the learned path keeps momenta (decays 0.9, 0.99, 0.999), an RMS
 * accumulator (0.95) and Adafactor-style factored second moments (0.9, 0.99, 0.999). From
 * them it builds 14 feature groups, normalises each to unit RMS over the leaf's last two
 * axes (its only axis for a vector), and runs the small network of theta on every element.
 * The step `direction * exp(magnitude * expMult)` is orthogonalised by Newton–Schulz
 * iterations over the last two axes (leaves with two or more axes), normalised to unit RMS,
 * scaled by `rmsMult` and the learning rate, with decoupled weight decay after it. The other
 * leaves (see `celo2AdamWLeaves`) take AdamW (betas 0.9, 0.95, epsilon 1e-8, the same
 * learning rate and weight decay), composed from `@lopt/optimizers`' transformations.
 *
 * Everything is plain tfjs ops, so the update is differentiable in theta (meta-training).
 * `init(key)` draws a fresh network (haiku's initialisers) for meta-training from scratch.
 */
export class Celo2 extends LearnedOptimizer<Celo2Theta> {
  /** The options, with the defaults filled in. */
  readonly options: Readonly<Resolved>;
  /** Width of each feature group, in the reference's order. */
  readonly groupWidths: readonly number[];

  /** @param opts the reference's options (its defaults when omitted) */
  constructor(opts: Celo2Options = {}) {
    super();
    const lr = opts.learningRate ?? 1e-3;
    if (typeof lr === 'number')
      checkNumber('learningRate', lr, (x) => x >= 0 && Number.isFinite(x), 'a finite number >= 0');
    const coeffs = opts.nsCoeffs ?? [3.4445, -4.775, 2.0315];
    if (!Array.isArray(coeffs) || coeffs.length !== 3 || !coeffs.every(Number.isFinite)) {
      throw new Error(`Celo2: nsCoeffs must be three finite numbers, got [${coeffs}]`);
    }
    const betas = opts.adamBetas ?? [0.9, 0.95];
    if (!Array.isArray(betas) || betas.length !== 2)
      throw new Error(`Celo2: adamBetas must be [beta1, beta2], got [${betas}]`);
    checkDecays('adamBetas', betas);
    this.options = {
      learningRate: lr,
      weightDecay: checkNumber(
        'weightDecay',
        opts.weightDecay ?? 0,
        (x) => x >= 0 && Number.isFinite(x),
        'a finite number >= 0',
      ),
      momentumDecays: checkDecays('momentumDecays', opts.momentumDecays ?? [0.9, 0.99, 0.999]),
      rmsDecays: checkDecays('rmsDecays', opts.rmsDecays ?? [0.95]),
      adafactorDecays: checkDecays('adafactorDecays', opts.adafactorDecays ?? [0.9, 0.99, 0.999]),
      expMult: checkNumber('expMult', opts.expMult ?? 0, Number.isFinite, 'a finite number'),
      rmsMult: checkNumber('rmsMult', opts.rmsMult ?? 1, Number.isFinite, 'a finite number'),
      nsCoeffs: [coeffs[0], coeffs[1], coeffs[2]],
      nsIters: checkNumber('nsIters', opts.nsIters ?? 5, (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0'),
      adamBetas: [betas[0], betas[1]],
      adamEps: checkNumber(
        'adamEps',
        opts.adamEps ?? 1e-8,
        (x) => x >= 0 && Number.isFinite(x),
        'a finite number >= 0',
      ),
      adamw: opts.adamw,
    };
    const nm = this.options.momentumDecays.length;
    const nr = this.options.rmsDecays.length;
    const nf = this.options.adafactorDecays.length;
    const widths: Record<Group, number> = {
      g: 1,
      clipG: 1,
      p: 1,
      mom: nm,
      rms: nr,
      momInvRms: broadcastWidth(nm, nr, 'momentumDecays and rmsDecays'),
      invRms: nr,
      facG: nf,
      gInvRms: nr,
      row: nf,
      col: nf,
      invRow: nf,
      invCol: nf,
      facMom: broadcastWidth(nm, nf, 'momentumDecays and adafactorDecays'),
    };
    this.groupWidths = GROUPS.map((g) => widths[g]);
  }

  /** Number of input features of the network (30 with the default decays). */
  get numFeatures(): number {
    return this.groupWidths.reduce((a, b) => a + b, 0);
  }

  /**
   * A fresh network `numFeatures -> 8 -> 8 -> 3` (truncated-normal weights with stddev
   * `1/sqrt(fanIn)`, zero biases), for meta-training from scratch. The published,
   * pretrained theta is `celo2Theta()`.
   */
  init(key: PRNGKey): Celo2Theta {
    return { mlp: initMlp(key, this.numFeatures, [HIDDEN, HIDDEN, OUTPUTS]) };
  }

  /** The optimizer that `theta` defines. */
  optFn(theta: Celo2Theta): Optimizer {
    this.checkTheta(theta);
    return new Celo2Optimizer(this, theta);
  }

  override get name(): string {
    return 'Celo2';
  }

  private checkTheta(theta: Celo2Theta): void {
    const mlp = theta?.mlp;
    if (!Array.isArray(mlp) || mlp.length !== 3) {
      throw new Error('Celo2: theta must be { mlp: [three dense layers] } (from celo2Theta() or Celo2.init)');
    }
    const want = [
      [this.numFeatures, HIDDEN],
      [HIDDEN, HIDDEN],
      [HIDDEN, OUTPUTS],
    ];
    mlp.forEach((layer, i) => {
      const [fanIn, fanOut] = want[i]!;
      if (!(layer?.w instanceof tf.Tensor) || !(layer?.b instanceof tf.Tensor)) {
        throw new Error(`Celo2: theta.mlp[${i}] must be { w, b } tensors`);
      }
      if (!tf.util.arraysEqual(layer.w.shape, [fanIn!, fanOut!]) || !tf.util.arraysEqual(layer.b.shape, [fanOut!])) {
        const hint =
          i === 0 && layer.w.shape[0] !== fanIn
            ? ` (these options give ${fanIn} input features; the published theta needs the default decays)`
            : '';
        throw new Error(
          `Celo2: theta.mlp[${i}] has w [${layer.w.shape.join(', ')}] and b [${layer.b.shape.join(', ')}], expected [${fanIn}, ${fanOut}] and [${fanOut}]${hint}`,
        );
      }
    });
  }
}

/** The first layer's weights split by where the features live: every element, rows, columns. */
interface FirstLayer {
  all: tf.Tensor2D;
  perElement: tf.Tensor2D;
  row: tf.Tensor2D;
  col: tf.Tensor2D;
  b: tf.Tensor1D;
}

class Celo2Optimizer extends Optimizer {
  private readonly o: Readonly<Resolved>;
  private readonly adamwTx: GradientTransformation<unknown>;
  // Leaf routing by params structure (the structure fixes the rule's inputs).
  private readonly routes = new Map<string, boolean[]>();

  constructor(
    private readonly lopt: Celo2,
    private readonly theta: Celo2Theta,
  ) {
    super();
    this.o = lopt.options;
    const [b1, b2] = this.o.adamBetas;
    const adam = scaleByAdam({ b1, b2, eps: this.o.adamEps, epsRoot: 0 });
    const lr = scaleByLearningRate(this.o.learningRate);
    this.adamwTx = (
      this.o.weightDecay > 0 ? chain(adam, addDecayedWeights(this.o.weightDecay), lr) : chain(adam, lr)
    ) as GradientTransformation<unknown>;
  }

  override get name(): string {
    return 'Celo2';
  }

  private route(params: unknown, leaves: tf.Tensor[]): boolean[] {
    const key = JSON.stringify(treeFlatten(params as PyTree)[1]) + leaves.map((l) => `[${l.shape}]`).join('');
    let r = this.routes.get(key);
    if (!r) {
      r = celo2AdamWLeaves(params, this.o.adamw);
      this.routes.set(key, r);
    }
    return r;
  }

  init<P>(params: P, opts: InitOptions = {}): Celo2State<P> {
    const [leaves] = treeFlatten(params as PyTree);
    leaves.forEach((l, i) => {
      if (!(l instanceof tf.Tensor)) throw new Error(`Celo2: params leaf ${i} is not a tensor`);
      if (l.dtype !== 'float32') throw new Error(`Celo2: params leaf ${i} is ${l.dtype}; parameters must be float32`);
    });
    const adamw = this.route(params, leaves);
    return tidyTree(() => ({
      params,
      modelState: opts.modelState,
      iteration: tf.scalar(0, 'int32'),
      adamw: this.adamwTx.init(leaves.filter((_, i) => adamw[i])),
      celo2: leaves.filter((_, i) => !adamw[i]).map((p) => this.initLeaf(p.shape)),
    }));
  }

  private initLeaf(shape: readonly number[]): Celo2LeafState {
    const o = this.o;
    const nf = o.adafactorDecays.length;
    const s: Celo2LeafState = {
      mom: tf.zeros([...shape, o.momentumDecays.length]),
      rms: tf.zeros([...shape, o.rmsDecays.length]),
    };
    const dims = factoredDims(shape, true, 0);
    if (dims) {
      const [d1, d0] = dims;
      s.facVecRow = tf.zeros([...shape.filter((_, i) => i !== d0), nf]);
      s.facVecCol = tf.zeros([...shape.filter((_, i) => i !== d1), nf]);
    } else {
      s.facVecV = tf.zeros([...shape, nf]);
    }
    return s;
  }

  update<P>(state: OptState<P>, grads: P, opts: UpdateOptions = {}): Celo2State<P> {
    const s = state as Celo2State<P>;
    if (!s || typeof s !== 'object' || !('celo2' in s) || !('adamw' in s)) {
      throw new Error(
        `Celo2: update got a state without 'celo2' and 'adamw' fields; make it with this optimizer's init`,
      );
    }
    assertSameStructure(s.params, grads, 'Celo2: grads and params');
    const [ps, def] = treeFlatten(s.params as PyTree);
    const [gs] = treeFlatten(grads as PyTree);
    gs.forEach((g, i) => {
      if (!(g instanceof tf.Tensor) || !tf.util.arraysEqual(g.shape, ps[i]!.shape)) {
        const got = g instanceof tf.Tensor ? `shape [${g.shape.join(', ')}]` : typeof g;
        throw new Error(`Celo2: grads leaf ${i} has ${got} but the param has shape [${ps[i]!.shape.join(', ')}]`);
      }
    });
    const adamw = this.route(s.params, ps);
    const nLearned = adamw.filter((a) => !a).length;
    if (s.celo2.length !== nLearned) {
      throw new Error(
        `Celo2: the state holds ${s.celo2.length} learned-path leaves but these params route ${nLearned} there (a state of other params?)`,
      );
    }
    return tidyTree(() => {
      const next: tf.Tensor[] = new Array(ps.length);
      const aIdx = adamw.flatMap((a, i) => (a ? [i] : []));
      const [aUpdates, aState] = this.adamwTx.update(
        aIdx.map((i) => gs[i]!),
        s.adamw,
        aIdx.map((i) => ps[i]!),
      );
      aIdx.forEach((i, j) => {
        next[i] = tf.add(ps[i]!, (aUpdates as tf.Tensor[])[j]!);
      });
      const lIdx = adamw.flatMap((a, i) => (a ? [] : [i]));
      const first = lIdx.length ? this.firstLayer() : undefined;
      const lr = this.learningRate(s.iteration);
      const celo2 = lIdx.map((i, j) => {
        const [p, ls] = tf.tidy(() => {
          const [p1, st] = this.learnedLeaf(ps[i]!, gs[i]!, s.celo2[j]!, first!, lr);
          return [p1, st] as unknown as tf.TensorContainer;
        }) as unknown as [tf.Tensor, Celo2LeafState];
        next[i] = p;
        return ls;
      });
      return {
        params: treeUnflatten<tf.Tensor, P>(def, next),
        modelState: opts.modelState ?? s.modelState,
        // An int32 step count stays int32.
        iteration: tf.add(s.iteration, tf.scalar(1, s.iteration.dtype)) as tf.Scalar,
        adamw: aState,
        celo2,
      };
    });
  }

  private learningRate(iteration: tf.Scalar): tf.Tensor | number {
    const lr = this.o.learningRate;
    return typeof lr === 'function' ? lr(iteration) : lr;
  }

  // The first layer's rows regrouped: features that vary per element, and those that are
  // constant along a factored leaf's largest axis (rows) or second-largest axis (columns),
  // which go through the layer once per row or column instead of once per element.
  private firstLayer(): FirstLayer {
    const { w, b } = this.theta.mlp[0]!;
    const widths = this.lopt.groupWidths;
    const blocks: tf.Tensor2D[] = [];
    let at = 0;
    for (const n of widths) {
      blocks.push(tf.slice(w, [at, 0], [n, -1]) as tf.Tensor2D);
      at += n;
    }
    const pick = (names: readonly Group[]) =>
      tf.concat(
        names.map((g) => blocks[GROUPS.indexOf(g)]!),
        0,
      ) as tf.Tensor2D;
    return {
      all: w,
      perElement: pick(['g', 'clipG', 'p', 'mom', 'rms', 'momInvRms', 'invRms', 'facG', 'gInvRms', 'facMom']),
      row: pick(['row', 'invRow']),
      col: pick(['col', 'invCol']),
      b,
    };
  }

  private learnedLeaf(
    p: tf.Tensor,
    grad: tf.Tensor,
    s: Celo2LeafState,
    first: FirstLayer,
    lr: tf.Tensor | number,
  ): [tf.Tensor, Celo2LeafState] {
    const o = this.o;
    const shape = p.shape;
    const rank = shape.length;
    const axes = rank >= 2 ? [rank - 2, rank - 1] : [0];
    const md = tf.tensor1d(o.momentumDecays);
    const rd = tf.tensor1d(o.rmsDecays);
    const fd = tf.tensor1d(o.adafactorDecays);
    const ema = (acc: tf.Tensor, decay: tf.Tensor, x: tf.Tensor) =>
      tf.add(tf.mul(acc, decay), tf.mul(x, tf.sub(1, decay)));

    const g = tf.expandDims(tf.clipByValue(grad, -1000, 1000), -1);
    const gSq = tf.square(g);
    const mom = ema(s.mom, md, g);
    const rms = ema(s.rms, rd, gSq);
    const g2 = tf.add(gSq, 1e-30);
    const invRms = tf.rsqrt(tf.add(rms, 1e-8));
    const common = [g, tf.clipByValue(g, -0.1, 0.1), tf.expandDims(p, -1), mom, rms, tf.mul(mom, invRms), invRms];
    // Unit RMS per feature over `axes` (the reference's second-moment normaliser).
    const normalize = (x: tf.Tensor, over: number[]) =>
      tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), over, true), 1e-9)));
    const dense = (x: tf.Tensor, w: tf.Tensor2D) => {
      const k = x.shape[x.rank - 1]!;
      return tf.reshape(tf.matMul(tf.reshape(x, [-1, k]) as tf.Tensor2D, w), [...x.shape.slice(0, -1), w.shape[1]]);
    };

    let hidden: tf.Tensor;
    const next: Celo2LeafState = { mom, rms };
    const dims = factoredDims(shape, true, 0);
    if (dims) {
      const [d1, d0] = dims;
      const vRow = ema(s.facVecRow!, fd, tf.mean(g2, d0));
      const vCol = ema(s.facVecCol!, fd, tf.mean(g2, d1));
      next.facVecRow = vRow;
      next.facVecCol = vCol;
      const reducedD1 = d1 > d0 ? d1 - 1 : d1;
      const rowFactor = tf.rsqrt(tf.maximum(tf.div(vRow, tf.add(tf.mean(vRow, reducedD1, true), 1e-9)), 1e-9));
      const colFactor = tf.rsqrt(tf.maximum(vCol, 1e-9));
      const scale = tf.mul(tf.expandDims(rowFactor, d0), tf.expandDims(colFactor, d1));
      const perElement = tf.concat([...common, tf.mul(g, scale), tf.mul(g, invRms), tf.mul(mom, scale)], -1);
      // Row (column) features are constant along d0 (d1): their normaliser's mean over
      // `axes` equals the mean over the same axes of the reduced tensor.
      const reduced = (drop: number) => axes.filter((a) => a !== drop).map((a) => (a > drop ? a - 1 : a));
      const rowFeats = tf.concat([vRow, tf.rsqrt(tf.add(vRow, 1e-8))], -1);
      const colFeats = tf.concat([vCol, tf.rsqrt(tf.add(vCol, 1e-8))], -1);
      hidden = tf.add(
        tf.add(
          dense(normalize(perElement, axes), first.perElement),
          tf.expandDims(dense(normalize(rowFeats, reduced(d0)), first.row), d0),
        ),
        tf.expandDims(dense(normalize(colFeats, reduced(d1)), first.col), d1),
      );
    } else {
      const v = ema(s.facVecV!, fd, g2);
      next.facVecV = v;
      const invV = tf.rsqrt(tf.add(v, 1e-8));
      const feats = tf.concat(
        [
          ...common,
          tf.mul(g, tf.rsqrt(tf.maximum(tf.add(v, 1e-9), 1e-9))),
          tf.mul(g, invRms),
          v,
          v,
          invV,
          invV,
          tf.mul(mom, tf.rsqrt(tf.add(v, 1e-6))),
        ],
        -1,
      );
      hidden = dense(normalize(feats, axes), first.all);
    }
    const [, l2, l3] = this.theta.mlp as [Linear, Linear, Linear];
    const h1 = tf.reshape(tf.relu(tf.add(hidden, first.b)), [-1, HIDDEN]) as tf.Tensor2D;
    const h2 = tf.relu(tf.add(tf.matMul(h1, l2.w), l2.b)) as tf.Tensor2D;
    // Only the direction (and, with expMult, the magnitude) output is used.
    const used = o.expMult === 0 ? 1 : 2;
    const out = tf.add(tf.matMul(h2, tf.slice(l3.w, [0, 0], [-1, used]) as tf.Tensor2D), tf.slice(l3.b, [0], [used]));
    let step = tf.reshape(tf.slice(out, [0, 0], [-1, 1]), shape);
    if (used === 2) step = tf.mul(step, tf.exp(tf.mul(tf.reshape(tf.slice(out, [0, 1], [-1, 1]), shape), o.expMult)));
    if (rank >= 2) step = newtonSchulz(step, o.nsCoeffs, o.nsIters);
    step = normalize(step, axes);
    let param = tf.sub(p, tf.mul(step, typeof lr === 'number' ? lr * o.rmsMult : tf.mul(lr, o.rmsMult)));
    if (o.weightDecay > 0)
      param = tf.sub(param, tf.mul(param, typeof lr === 'number' ? lr * o.weightDecay : tf.mul(lr, o.weightDecay)));
    return [param, next];
  }
}
