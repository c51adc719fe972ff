import type { TextBatch, TextDatasets } from '@lopt/datasets';
import type { PRNGKey } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { ACTIVATIONS } from './activations.js';
import { BaseTask } from './base-task.js';
import { fanInWeight, KeySequence, truncatedNormalInit } from './init.js';
import { checkTextBatch, checkVocabulary, croppedDatasets, lmNormalizer, nextTokenLoss } from './lm-common.js';
import { type LayerNormParams, type LinearParams, layerNorm, linear } from './mlp.js';

/** Parameters of a {@link TransformerLMTask}: module name to that module's parameters. */
export type TransformerLMParams = Record<string, Record<string, tf.Tensor>>;

/** Options of {@link TransformerLMTask}. */
export interface TransformerLMTaskOptions {
  /** The task's name. */
  name: string;
  /** Transformer blocks (default 2). */
  numLayers?: number;
  /** Model width; a multiple of `numHeads`. */
  dModel: number;
  /** Attention heads per block. */
  numHeads: number;
  /** Learned positions: the longest sequence the model takes. */
  maxPositions: number;
  /** Hidden width of each block's MLP as a multiple of `dModel` (default 4). */
  wideningFactor?: number;
  /** Tokens the model knows (default 256: bytes); must equal the corpus's vocabulary. */
  vocabSize?: number;
  /** Use only the first `batchSize` rows and `sequenceLength` positions of every batch (families). */
  crop?: { batchSize: number; sequenceLength: number };
}

// A [T, T] additive mask: 0 where position j <= i may be attended to, -1e9 above the diagonal.
function causalMask(T: number): tf.Tensor2D {
  const m = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = -1e9;
  return tf.tensor2d(m, [T, T]);
}

/**
 * A small decoder-only transformer language model, as the reference's transformer LM
 * tasks: token embeddings plus learned position embeddings, `numLayers` pre-LayerNorm
 * blocks of causal multi-head self-attention and a GELU MLP, each added residually, a
 * final LayerNorm and a linear layer to next-token logits. The loss is the mean
 * cross-entropy in nats per token of `{ obs, target }` `[batch, sequence]` batches.
 * Sequences longer than `maxPositions` are an error.
 *
 * No vectorised `batchedLoss`: K problems go through `batchedLoss`'s loop over `loss`
 * (stacking the attention's head axes under a member axis did not fit in this release).
 */
export class TransformerLMTask extends BaseTask<TransformerLMParams, TextBatch> {
  /** The corpus, when the task was built on one. */
  readonly textDatasets: TextDatasets | undefined;
  /** Tokens in the vocabulary. */
  readonly vocabSize: number;
  /** Transformer blocks. */
  readonly numLayers: number;
  private readonly taskName: string;

  /**
   * @param textDatasets - The corpus batches come from (`undefined` for a task fed by hand).
   * @param opts - Architecture and name.
   */
  constructor(
    textDatasets: TextDatasets | undefined,
    readonly opts: TransformerLMTaskOptions,
  ) {
    super();
    this.taskName = opts.name;
    this.vocabSize = opts.vocabSize ?? 256;
    this.numLayers = opts.numLayers ?? 2;
    for (const [k, v] of [
      ['numLayers', this.numLayers],
      ['dModel', opts.dModel],
      ['numHeads', opts.numHeads],
      ['maxPositions', opts.maxPositions],
      ['vocabSize', this.vocabSize],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`${opts.name}: ${k} must be a positive integer, got ${v}`);
    }
    if (opts.dModel % opts.numHeads !== 0) {
      throw new Error(`${opts.name}: dModel ${opts.dModel} is not a multiple of numHeads ${opts.numHeads}`);
    }
    if (textDatasets) {
      checkVocabulary(opts.name, textDatasets, this.vocabSize);
      const T = opts.crop ? opts.crop.sequenceLength : textDatasets.sequenceLength;
      if (T > opts.maxPositions) {
        throw new Error(
          `${opts.name}: the corpus gives sequences of ${T} tokens, longer than the model's ${opts.maxPositions} learned positions; load it with sequenceLength <= ${opts.maxPositions}`,
        );
      }
      this.datasets = croppedDatasets(opts.name, textDatasets, opts.crop);
    }
    this.textDatasets = textDatasets;
  }

  /** The task's name. */
  override get name(): string {
    return this.taskName;
  }

  /** Fresh parameters: truncated-normal embeddings (std 0.02 for positions), fan-in weights, zero biases, unit LayerNorm scales. */
  init(key: PRNGKey): TransformerLMParams {
    const D = this.opts.dModel;
    const F = D * (this.opts.wideningFactor ?? 4);
    const V = this.vocabSize;
    const keys = new KeySequence(key);
    const lin = (i: number, o: number) => ({ w: fanInWeight(keys.next(), [i, o]), b: tf.zeros([o]) });
    const ln = () => ({ scale: tf.ones([D]), offset: tf.zeros([D]) });
    const p: TransformerLMParams = {
      embed: { embeddings: truncatedNormalInit(keys.next(), [V, D], 1) },
      positions: { embeddings: truncatedNormalInit(keys.next(), [this.opts.maxPositions, D], 0.02) },
    };
    for (let l = 0; l < this.numLayers; l++) {
      const m = `transformer/layer_${l}`;
      p[`${m}/ln_1`] = ln();
      p[`${m}/query`] = lin(D, D);
      p[`${m}/key`] = lin(D, D);
      p[`${m}/value`] = lin(D, D);
      p[`${m}/attn_out`] = lin(D, D);
      p[`${m}/ln_2`] = ln();
      p[`${m}/mlp_in`] = lin(D, F);
      p[`${m}/mlp_out`] = lin(F, D);
    }
    p['transformer/ln_f'] = ln();
    p.linear = lin(D, V);
    return p;
  }

  /** Mean next-token cross-entropy (nats per token) of `params` on `data`. */
  loss(params: TransformerLMParams, _key: PRNGKey, data: TextBatch): tf.Scalar {
    return tf.tidy(() => {
      let [B, T] = checkTextBatch(this.name, data, this.opts.crop ? null : this.opts.maxPositions);
      let { obs, target } = data;
      if (this.opts.crop) {
        [B, T] = [Math.min(B, this.opts.crop.batchSize), Math.min(T, this.opts.crop.sequenceLength)];
        obs = tf.slice(obs, [0, 0], [B, T]);
        target = tf.slice(target, [0, 0], [B, T]);
      }
      return nextTokenLoss(tf.reshape(this.logits(params, obs), [B * T, this.vocabSize]), target, this.vocabSize);
    }) as tf.Scalar;
  }

  /**
   * Next-token logits `[batch, sequence, vocab]` for int32 tokens `obs` `[batch, sequence]`
   * (at most `maxPositions` long): position t sees tokens 0..t only.
   */
  logits(params: TransformerLMParams, obs: tf.Tensor): tf.Tensor3D {
    return tf.tidy(() => {
      const { dModel: D, numHeads: NH } = this.opts;
      const Dh = D / NH;
      if (obs.rank !== 2) throw new Error(`${this.name}: obs must be [batch, sequence], got [${obs.shape.join(', ')}]`);
      const [B, T] = obs.shape as [number, number];
      if (T > this.opts.maxPositions) {
        throw new Error(
          `${this.name}: sequences of ${T} tokens are longer than the model's ${this.opts.maxPositions} learned positions`,
        );
      }
      const tok = tf.gather(params.embed!.embeddings!, tf.reshape(obs, [B * T]));
      const pos = tf.tile(tf.slice(params.positions!.embeddings!, [0, 0], [T, D]), [B, 1]);
      let x = tf.add(tok, pos); // [B*T, D], rows in (batch, position) order
      const mask = causalMask(T);
      const heads = (h: tf.Tensor) => tf.transpose(tf.reshape(h, [B, T, NH, Dh]), [0, 2, 1, 3]);
      for (let l = 0; l < this.numLayers; l++) {
        const m = `transformer/layer_${l}`;
        const mod = (n: string) => params[`${m}/${n}`] as unknown;
        const h = layerNorm(x, mod('ln_1') as LayerNormParams);
        const q = heads(linear(h, mod('query') as LinearParams));
        const k = heads(linear(h, mod('key') as LinearParams));
        const v = heads(linear(h, mod('value') as LinearParams));
        const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(Dh)), mask);
        const att = tf.matMul(tf.softmax(scores), v); // [B, NH, T, Dh]
        const merged = tf.reshape(tf.transpose(att, [0, 2, 1, 3]), [B * T, D]);
        x = tf.add(x, linear(merged, mod('attn_out') as LinearParams));
        const h2 = layerNorm(x, mod('ln_2') as LayerNormParams);
        const f = linear(ACTIVATIONS.gelu(linear(h2, mod('mlp_in') as LinearParams)), mod('mlp_out') as LinearParams);
        x = tf.add(x, f);
      }
      const out = linear(
        layerNorm(x, params['transformer/ln_f'] as unknown as LayerNormParams),
        params.linear as unknown as LinearParams,
      );
      return tf.reshape(out, [B, T, this.vocabSize]) as tf.Tensor3D;
    });
  }

  /** The reference's language-model normaliser (see `lmNormalizer`). */
  override normalizer(loss: tf.Tensor): tf.Tensor {
    return lmNormalizer(loss, this.vocabSize);
  }
}
