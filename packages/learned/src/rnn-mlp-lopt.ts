import { type InitOptions, Optimizer, type OptState, type UpdateOptions } from '@lopt/optimizers';
import { type PRNGKey, random } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { clipLogAbs, safeSqrt, sinEmbedding } from './features.js';
import { LearnedOptimizer } from './learned-optimizer.js';
import {
  applyLinear,
  initLinear,
  initMlp,
  type Linear,
  type LSTMState,
  lstmStep,
  lstmZeroState,
  varianceScalingVector,
} from './nn.js';
import { ravelParamsGrads } from './raveled.js';
import { Segments } from './segments.js';
import { tidyTree } from './tidy-tree.js';

/** Options of `RNNMLPLOpt` (the reference's defaults). */
export interface RNNMLPLOptOptions {
  /** Multiplier of the step (0.001). */
  stepMultiplier?: number;
  /** Multiplier inside the exponential of the step magnitude (0.001). */
  magnitudeRate?: number;
  /** Hidden width of the per-parameter MLP (32). */
  hiddenSize?: number;
  /** Hidden layers of the per-parameter MLP (2). */
  hiddenLayer?: number;
  /** Size of the MLP-to-LSTM message (16). */
  fromMlpSize?: number;
  /** Size of the LSTM-to-next-LSTM-step message (18). */
  fromLstmSize?: number;
  /** Size of the LSTM-to-MLP projection (17). */
  lstmToFf?: number;
  /** Width of the per-tensor LSTM (64). */
  lstmHiddenSize?: number;
  /** Decays of the momentum and second-moment accumulators ([0.5, 0.9, 0.99, 0.999, 0.9999]). */
  decays?: number[];
}

/** Meta-parameters of `RNNMLPLOpt`. */
export interface RNNMLPLOptTheta {
  /** The first LSTM-to-LSTM message, `[fromLstmSize]`. */
  initialFromLstm: tf.Tensor1D;
  /** The first MLP-to-LSTM message of every tensor, `[fromMlpSize]`. */
  initialFromMlp: tf.Tensor1D;
  /** The LSTM's initial state (batch 1, tiled to one row per tensor). */
  lstmInitState: LSTMState;
  /** The LSTM's gate weights, `[52 + lstmHiddenSize, 4 * lstmHiddenSize]`. */
  rnnParams: Linear;
  /** LSTM output to the per-parameter MLP's inputs. */
  rnnToFfParams: Linear;
  /** LSTM output to the next step's LSTM input. */
  rnnToInParams: Linear;
  /** The per-parameter MLP, `54 -> 32 -> 32 -> 2 + fromMlpSize`. */
  ffmodParams: Linear[];
}

/** A running mean/variance of a loss (the reference's `_LossNormalizerState`). */
export interface LossNormalizerState {
  /** Running mean. */
  mean: tf.Scalar;
  /** Running variance. */
  var: tf.Scalar;
  /** Number of updates (float32). */
  updates: tf.Scalar;
}

/** State of `RNNMLPLOpt`'s optimizer; per-tensor values have one row per parameter tensor. */
export interface RNNMLPLOptState<P> extends OptState<P> {
  /** Momenta, `[N, numDecays]` over the raveled parameters. */
  momRolling: { m: tf.Tensor2D };
  /** Second moments, `[N, numDecays]`. */
  rmsRolling: { rms: tf.Tensor2D };
  /** The LSTM state, one row per tensor. */
  lstmHiddenState: LSTMState;
  /** MLP-to-LSTM messages, `[numTensors, fromMlpSize]`. */
  fromMlp: tf.Tensor2D;
  /** LSTM-to-LSTM message, `[fromLstmSize]`. */
  fromLstm: tf.Tensor1D;
  /** Training-loss normaliser (decay 0.9). */
  trainLossAccum: LossNormalizerState;
  /** Validation-loss normaliser (decay 0.95). */
  validLossAccum: LossNormalizerState;
  /** Dynamic gradient clipping: step count and running gradient scale. */
  dynamicClip: { iteration: tf.Scalar; value: tf.Scalar };
}

/** Update options of `RNNMLPLOpt`: `isValid` marks a validation loss (no step is taken). */
export interface RNNMLPLOptUpdateOptions extends UpdateOptions {
  /** The loss is a validation loss: only the validation-loss normaliser advances. */
  isValid?: boolean;
}

const TRAIN_DECAY = 0.9;
const VALID_DECAY = 0.95;
const CLIP_ALPHA = 0.99;
const CLIP_MULT = 10;
const TENSOR_FEATURES = 18;
const MLP_FEATURES = 37;

function nextLoss(s: LossNormalizerState, loss: tf.Scalar, decay: number): LossNormalizerState {
  const mean = tf.add(tf.mul(decay, s.mean), tf.mul(1 - decay, loss)) as tf.Scalar;
  const v = tf.add(tf.mul(decay, s.var), tf.mul(1 - decay, tf.square(tf.sub(mean, loss)))) as tf.Scalar;
  return { mean, var: v, updates: tf.add(s.updates, 1) as tf.Scalar };
}

function correction(s: LossNormalizerState, decay: number): tf.Tensor {
  return tf.div(1, tf.add(tf.sub(1, tf.pow(tf.scalar(decay), s.updates)), 1e-8));
}

function weightLoss(s: LossNormalizerState, loss: tf.Tensor, decay: number): tf.Tensor {
  const c = correction(s, decay);
  const l = tf.mul(tf.sub(loss, tf.mul(s.mean, c)), tf.rsqrt(tf.add(tf.mul(s.var, c), 1e-8)));
  return tf.clipByValue(l, -5, 5);
}

function zeroLossState(): LossNormalizerState {
  return { mean: tf.scalar(0), var: tf.scalar(0), updates: tf.scalar(0) };
}

/** Mean over all elements and columns of each tensor, and the variance around it: `[T, 1]` each. */
function meanVar(seg: Segments, x: tf.Tensor2D): [tf.Tensor2D, tf.Tensor2D] {
  const mean = tf.mean(seg.mean(x), 1, true) as tf.Tensor2D;
  const v = tf.mean(seg.mean(tf.square(tf.sub(x, seg.expand(mean))) as tf.Tensor2D), 1, true) as tf.Tensor2D;
  return [mean, v];
}

/**
 * The reference's `RNNMLPLOpt` (arXiv:2009.11243): a per-tensor LSTM that reads
 * tensor-level statistics (moment and parameter magnitudes, gradient norm, shape,
 * normalised training/validation loss, messages from the MLP and from the previous LSTM
 * step) and conditions a per-parameter MLP over momentum/RMS features at five decays,
 * sine step embeddings and tensor-level inputs. Gradients are dynamically clipped. Step:
 * `out0 * exp(out1 * magnitudeRate) * stepMultiplier`; the MLP's other 16 outputs,
 * averaged per tensor, are the next message to the LSTM.
 *
 * Layout follows the reference's architecture and feature order. Differences: state
 * is stored raveled (`[N, k]` accumulators, `[T, k]` per-tensor values) rather than as
 * trees; norms use a square root guarded at zero so meta-gradients stay finite at
 * all-zero tensors (zero-initialised biases); `update` requires `loss`, as the reference.
 */
export class RNNMLPLOpt extends LearnedOptimizer<RNNMLPLOptTheta> {
  /** Multiplier of the step. */
  readonly stepMultiplier: number;
  /** Multiplier inside the exponential of the step magnitude. */
  readonly magnitudeRate: number;
  /** Hidden width of the per-parameter MLP. */
  readonly hiddenSize: number;
  /** Hidden layers of the per-parameter MLP. */
  readonly hiddenLayer: number;
  /** Size of the MLP-to-LSTM message. */
  readonly fromMlpSize: number;
  /** Size of the LSTM-to-LSTM message. */
  readonly fromLstmSize: number;
  /** Size of the LSTM-to-MLP projection. */
  readonly lstmToFf: number;
  /** Width of the LSTM. */
  readonly lstmHiddenSize: number;
  /** Accumulator decays. */
  readonly decays: number[];

  /** @param opts architecture (the reference's defaults when omitted) */
  constructor(opts: RNNMLPLOptOptions = {}) {
    super();
    this.stepMultiplier = opts.stepMultiplier ?? 0.001;
    this.magnitudeRate = opts.magnitudeRate ?? 0.001;
    this.hiddenSize = opts.hiddenSize ?? 32;
    this.hiddenLayer = opts.hiddenLayer ?? 2;
    this.fromMlpSize = opts.fromMlpSize ?? 16;
    this.fromLstmSize = opts.fromLstmSize ?? 18;
    this.lstmToFf = opts.lstmToFf ?? 17;
    this.lstmHiddenSize = opts.lstmHiddenSize ?? 64;
    this.decays = opts.decays ?? [0.5, 0.9, 0.99, 0.999, 0.9999];
    if (this.decays.length !== 5) {
      // The reference hard-codes 18 tensor and 37 parameter features, i.e. five decays.
      throw new Error(
        `RNNMLPLOpt: decays must have 5 entries (the reference's feature count), got ${this.decays.length}`,
      );
    }
  }

  /** Messages, LSTM state and all weights, drawn from `key`. */
  init(key: PRNGKey): RNNMLPLOptTheta {
    const [k1, k2, k3, k4, k5, k6] = random.split(key, 6) as PRNGKey[];
    const rnnInp = TENSOR_FEATURES + this.fromLstmSize + this.fromMlpSize;
    const mlpInp = MLP_FEATURES + this.lstmToFf;
    return {
      initialFromLstm: varianceScalingVector(k1!, this.fromLstmSize),
      initialFromMlp: varianceScalingVector(k2!, this.fromMlpSize),
      lstmInitState: lstmZeroState(this.lstmHiddenSize),
      rnnParams: initLinear(k3!, rnnInp + this.lstmHiddenSize, 4 * this.lstmHiddenSize),
      rnnToFfParams: initLinear(k4!, this.lstmHiddenSize, this.lstmToFf),
      rnnToInParams: initLinear(k5!, this.lstmHiddenSize, this.fromLstmSize),
      ffmodParams: initMlp(k6!, mlpInp, [...Array(this.hiddenLayer).fill(this.hiddenSize), 2 + this.fromMlpSize]),
    };
  }

  /** The optimizer that applies `theta`. */
  optFn(theta: RNNMLPLOptTheta): Optimizer {
    return new RNNMLPLOptOptimizer(this, theta);
  }

  override get name(): string {
    return 'RNNMLPLOpt';
  }
}

class RNNMLPLOptOptimizer extends Optimizer {
  constructor(
    private readonly lopt: RNNMLPLOpt,
    private readonly theta: RNNMLPLOptTheta,
  ) {
    super();
  }

  init<P>(params: P, opts: InitOptions = {}): RNNMLPLOptState<P> {
    return tidyTree(() => {
      const { raveled } = ravelParamsGrads('RNNMLPLOpt', params, params);
      const n = raveled.n;
      const t = raveled.sizes.length;
      const k = this.lopt.decays.length;
      const th = this.theta;
      return {
        params,
        modelState: opts.modelState,
        iteration: tf.scalar(0, 'int32'),
        momRolling: { m: tf.zeros([n, k]) as tf.Tensor2D },
        rmsRolling: { rms: tf.zeros([n, k]) as tf.Tensor2D },
        lstmHiddenState: {
          hidden: tf.tile(th.lstmInitState.hidden, [t, 1]) as tf.Tensor2D,
          cell: tf.tile(th.lstmInitState.cell, [t, 1]) as tf.Tensor2D,
        },
        fromMlp: tf.tile(tf.reshape(th.initialFromMlp, [1, -1]), [t, 1]) as tf.Tensor2D,
        fromLstm: tf.clone(th.initialFromLstm),
        trainLossAccum: zeroLossState(),
        validLossAccum: zeroLossState(),
        dynamicClip: { iteration: tf.scalar(1), value: tf.scalar(1 - CLIP_ALPHA) },
      };
    });
  }

  update<P>(state: OptState<P>, grads: P, opts: RNNMLPLOptUpdateOptions = {}): RNNMLPLOptState<P> {
    const s = state as RNNMLPLOptState<P>;
    const loss = opts.loss;
    if (!loss) throw new Error('RNNMLPLOpt.update: this optimizer needs the loss (pass { loss })');
    if (opts.isValid) {
      return tidyTree(() => ({
        ...s,
        iteration: tf.add(s.iteration, 1) as tf.Scalar,
        validLossAccum: nextLoss(s.validLossAccum, loss, VALID_DECAY),
      }));
    }
    const lopt = this.lopt;
    const th = this.theta;
    return tidyTree(() => {
      const { raveled, p, g: rawG } = ravelParamsGrads('RNNMLPLOpt', s.params, grads, s.momRolling.m.shape[0]);
      const seg = Segments.contiguous(raveled.sizes);
      const numTensors = raveled.sizes.length;

      const trainLossAccum = nextLoss(s.trainLossAccum, loss, TRAIN_DECAY);
      const trainLossFeat = weightLoss(trainLossAccum, loss, TRAIN_DECAY);
      const validLoss = tf.mul(s.validLossAccum.mean, correction(s.validLossAccum, VALID_DECAY));
      const validLossFeat = weightLoss(trainLossAccum, validLoss, TRAIN_DECAY);

      // Dynamic gradient clipping.
      const clipT = s.dynamicClip.iteration;
      const clipAmount = tf.mul(
        tf.div(s.dynamicClip.value, tf.sub(1, tf.pow(tf.scalar(CLIP_ALPHA), clipT))),
        CLIP_MULT,
      );
      const g = tf.minimum(tf.maximum(rawG, tf.neg(clipAmount)), clipAmount) as tf.Tensor2D;
      const g2 = tf.square(g) as tf.Tensor2D;
      const newSnd = tf.sqrt(tf.add(tf.mean(seg.mean(g2)), 1e-8));
      const dynamicClip = {
        iteration: tf.add(clipT, 1) as tf.Scalar,
        value: tf.add(tf.mul(s.dynamicClip.value, CLIP_ALPHA), tf.mul(newSnd, 1 - CLIP_ALPHA)) as tf.Scalar,
      };

      const decays = tf.tensor1d(lopt.decays);
      const m = tf.add(tf.mul(decays, s.momRolling.m), tf.mul(tf.sub(1, decays), g)) as tf.Tensor2D;
      const rms = tf.add(tf.mul(decays, s.rmsRolling.rms), tf.mul(tf.sub(1, decays), g2)) as tf.Tensor2D;

      // Per-tensor LSTM inputs, in the reference's sorted-key order.
      const [meanMs, varMs] = meanVar(seg, m);
      const [meanRms, varRms] = meanVar(seg, rms);
      const [meanV, varV] = meanVar(seg, p);
      const normV = safeSqrt(seg.sum(tf.square(p) as tf.Tensor2D));
      const normG = safeSqrt(seg.sum(g2));
      const consts = raveled.shapes.map((shape) => {
        const padded = [...shape, 1, 1, 1, 1].slice(0, 4);
        return [shape.length === 0 ? 1 : -1, ...padded.map((d) => Math.log(d) - 1)];
      });
      const shapeFeat = tf.tensor2d(consts, [numTensors, 5]);
      const col = (x: tf.Tensor) => tf.mul(tf.ones([numTensors, 1]), tf.reshape(x, [1, -1]));
      const [isScalar, shapeDims] = [tf.slice(shapeFeat, [0, 0], [-1, 1]), tf.slice(shapeFeat, [0, 1], [-1, 4])];
      const rnnInputs = tf.concat(
        [
          col(s.fromLstm),
          s.fromMlp,
          clipLogAbs(normG),
          isScalar,
          clipLogAbs(meanMs),
          tf.sign(meanMs),
          clipLogAbs(meanRms),
          tf.sign(meanRms),
          clipLogAbs(meanV),
          tf.sign(meanV),
          clipLogAbs(normV),
          shapeDims,
          col(trainLossFeat),
          col(validLossFeat),
          clipLogAbs(varMs),
          clipLogAbs(varRms),
          clipLogAbs(varV),
        ],
        1,
      ) as tf.Tensor2D;
      const [lstmOut, lstmHiddenState] = lstmStep(th.rnnParams, rnnInputs, s.lstmHiddenState);
      const fromLstm = tf.mean(applyLinear(th.rnnToInParams, lstmOut), 0) as tf.Tensor1D;
      const ffInputs = applyLinear(th.rnnToFfParams, lstmOut); // [T, lstmToFf]

      // Per-parameter features, normalised per tensor (sorted-key order).
      const rsqrt = tf.rsqrt(tf.add(rms, 1e-6));
      const perParam = seg.secondMomentNormalize(
        tf.concat([g, p, tf.log(tf.add(tf.abs(p), 1e-8)), m, rms, tf.mul(m, rsqrt), rsqrt], 1) as tf.Tensor2D,
      );
      // Inputs shared by a tensor's parameters: step embedding, log #tensors, log norm,
      // log size, LSTM projection. They go through the first layer once per tensor.
      const stepEmb = tf.concat([sinEmbedding(s.iteration), tf.tensor1d([Math.log(numTensors) - 1])]);
      const perTensor = tf.concat(
        [
          col(stepEmb),
          tf.log(tf.add(normV, 1e-8)),
          tf.tensor2d(
            raveled.sizes.map((n) => [Math.log(n)]),
            [numTensors, 1],
          ),
          ffInputs,
        ],
        1,
      ) as tf.Tensor2D;
      const layers = th.ffmodParams;
      const first = layers[0]!;
      const nx = perParam.shape[1];
      const wx = tf.slice(first.w, [0, 0], [nx, -1]) as tf.Tensor2D;
      const wt = tf.slice(first.w, [nx, 0], [-1, -1]) as tf.Tensor2D;
      let h = tf.add(
        tf.matMul(perParam, wx),
        seg.expand(tf.add(tf.matMul(perTensor, wt), first.b) as tf.Tensor2D),
      ) as tf.Tensor2D;
      for (const layer of layers.slice(1)) h = applyLinear(layer, tf.relu(h));
      const direction = tf.slice(h, [0, 0], [-1, 1]);
      const magnitude = tf.slice(h, [0, 1], [-1, 1]);
      const fromMlp = seg.mean(tf.slice(h, [0, 2], [-1, -1]) as tf.Tensor2D);
      const step = tf.mul(tf.mul(direction, tf.exp(tf.mul(magnitude, lopt.magnitudeRate))), lopt.stepMultiplier);
      return {
        params: raveled.unravel(tf.sub(p, step)),
        modelState: opts.modelState ?? s.modelState,
        iteration: tf.add(s.iteration, 1) as tf.Scalar,
        momRolling: { m },
        rmsRolling: { rms },
        lstmHiddenState,
        fromMlp,
        fromLstm,
        trainLossAccum,
        validLossAccum: s.validLossAccum,
        dynamicClip,
      };
    });
  }

  override get name(): string {
    return 'RNNMLPLOpt';
  }
}
