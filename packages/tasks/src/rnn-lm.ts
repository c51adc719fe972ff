import type { TextBatch, TextDatasets } from '@lopt/datasets';
import type { PRNGKey } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { BaseTask } from './base-task.js';
import type { BatchedTask } from './batched.js';
import { fanInWeight, KeySequence, truncatedNormalInit } from './init.js';
import { checkTextBatch, checkVocabulary, croppedDatasets, lmNormalizer, nextTokenLoss } from './lm-common.js';
import { linear } from './mlp.js';

/** The recurrent cores of {@link RNNLMTask}: Elman (tanh), GRU and LSTM. */
export type RNNCellName = 'VanillaRNN' | 'GRU' | 'LSTM';

/** The cell names, in a fixed order (families sample from it). */
export const RNN_CELLS: readonly RNNCellName[] = ['VanillaRNN', 'GRU', 'LSTM'];

// Gate blocks per cell: the input and recurrent weights hold this many H-wide blocks.
const GATES: Record<RNNCellName, number> = { VanillaRNN: 1, GRU: 3, LSTM: 4 };
// Learnable initial-state vectors per cell (the LSTM has a hidden and a cell state).
const STATES: Record<RNNCellName, number> = { VanillaRNN: 1, GRU: 1, LSTM: 2 };

/**
 * Parameters of an {@link RNNLMTask}, by module as Haiku names them: the embedding table,
 * the recurrent core (`w_i` `[E, G*H]`, `w_h` `[H, G*H]`, `b` `[G*H]` for G gate blocks),
 * its learnable initial state (`[1, H]` each) and the output layer `[H, V]`.
 */
export interface RNNLMParams {
  /** `embeddings` `[vocab, embed]`. */
  embed: { embeddings: tf.Tensor };
  /** The recurrent core's weights. */
  core: { w_i: tf.Tensor; w_h: tf.Tensor; b: tf.Tensor };
  /** `initial_state_0` (and `initial_state_1` for the LSTM's cell state), `[1, hidden]`, zeros at init. */
  initial_state: Record<string, tf.Tensor>;
  /** The output layer to the vocabulary. */
  linear: { w: tf.Tensor; b: tf.Tensor };
}

/** Options of {@link RNNLMTask}. */
export interface RNNLMTaskOptions {
  /** The task's name. */
  name: string;
  /** The recurrent core. */
  cell: RNNCellName;
  /** Hidden units of the core. */
  hiddenSize: number;
  /** Embedding width. */
  embedSize: number;
  /** Tokens the model knows (default 256: bytes); must equal the corpus's vocabulary. */
  vocabSize?: number;
  /**
   * Use only the first `batchSize` rows and `sequenceLength` positions of every batch (task
   * families share one corpus of the longest windows); default: the batch as given.
   */
  crop?: { batchSize: number; sequenceLength: number };
  /** Standard deviation of the embedding initialiser (default 1, Haiku's `Embed`). */
  embedInitScale?: number;
}

/**
 * A teacher-forced character (byte) language model, as the reference's `TeacherForcedRNNLM`:
 * tokens are embedded, run through a recurrent core from a learnable initial state, and a
 * linear layer predicts the next token at every position; the loss is the mean
 * cross-entropy in nats per token. The batch is `{ obs, target }` of `[batch, sequence]`
 * int32 ids (`@lopt/datasets`' text batches).
 *
 * `batchedLoss` evaluates K stacked parameter sets on one shared batch with batched
 * matmuls: one op sequence for all K members instead of K, which is what dominates a small
 * model's cost in TensorFlow.js.
 */
export class RNNLMTask
  extends BaseTask<RNNLMParams, TextBatch>
  implements BatchedTask<RNNLMParams, TextBatch, undefined>
{
  /** The corpus, when the task was built on one. */
  readonly textDatasets: TextDatasets | undefined;
  /** Tokens in the vocabulary. */
  readonly vocabSize: number;
  private readonly taskName: string;

  /**
   * @param textDatasets - The corpus batches come from (`undefined` for a task fed by hand).
   * @param opts - Architecture and name.
   */
  constructor(
    textDatasets: TextDatasets | undefined,
    readonly opts: RNNLMTaskOptions,
  ) {
    super();
    this.taskName = opts.name;
    this.vocabSize = opts.vocabSize ?? 256;
    for (const [k, v] of [
      ['hiddenSize', opts.hiddenSize],
      ['embedSize', opts.embedSize],
      ['vocabSize', this.vocabSize],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`${opts.name}: ${k} must be a positive integer, got ${v}`);
    }
    if (!RNN_CELLS.includes(opts.cell))
      throw new Error(`${opts.name}: unknown cell '${opts.cell}' (cells: ${RNN_CELLS.join(', ')})`);
    if (textDatasets) {
      checkVocabulary(opts.name, textDatasets, this.vocabSize);
      this.datasets = croppedDatasets(opts.name, textDatasets, opts.crop);
    }
    this.textDatasets = textDatasets;
  }

  /** The task's name. */
  override get name(): string {
    return this.taskName;
  }

  /** Fresh parameters: truncated-normal embeddings, fan-in weights, zero biases and initial states. */
  init(key: PRNGKey): RNNLMParams {
    const { cell, hiddenSize: H, embedSize: E } = this.opts;
    const V = this.vocabSize;
    const G = GATES[cell];
    const keys = new KeySequence(key);
    return {
      embed: { embeddings: truncatedNormalInit(keys.next(), [V, E], this.opts.embedInitScale ?? 1) },
      core: {
        w_i: fanInWeight(keys.next(), [E, G * H]),
        w_h: fanInWeight(keys.next(), [H, G * H]),
        b: tf.zeros([G * H]),
      },
      initial_state: Object.fromEntries(
        Array.from({ length: STATES[cell] }, (_, i) => [`initial_state_${i}`, tf.zeros([1, H])]),
      ),
      linear: { w: fanInWeight(keys.next(), [H, V]), b: tf.zeros([V]) },
    };
  }

  /** Mean next-token cross-entropy (nats per token) of `params` on `data`. */
  loss(params: RNNLMParams, _key: PRNGKey, data: TextBatch): tf.Scalar {
    return tf.tidy(() => this.forwardLoss(params, data, null)) as tf.Scalar;
  }

  /** The K losses of K stacked parameter sets (leading axis K) on one shared batch. */
  batchedLoss(stackedParams: RNNLMParams, keys: readonly PRNGKey[], data: TextBatch): tf.Tensor1D {
    const K = stackedParams.embed.embeddings.shape[0]!;
    if (stackedParams.embed.embeddings.rank !== 3)
      throw new Error(`${this.name}: batchedLoss needs parameters stacked on a leading axis`);
    if (keys.length !== K) throw new Error(`${this.name}: batchedLoss got ${K} parameter sets but ${keys.length} keys`);
    return tf.tidy(() => this.forwardLoss(stackedParams, data, K)) as tf.Tensor1D;
  }

  /** The reference's language-model normaliser (see `lmNormalizer`). */
  override normalizer(loss: tf.Tensor): tf.Tensor {
    return lmNormalizer(loss, this.vocabSize);
  }

  // One code path for one member (K null) and K stacked members (every leaf [K, ...]).
  private forwardLoss(p: RNNLMParams, data: TextBatch, K: number | null): tf.Tensor {
    const { cell, hiddenSize: H, embedSize: E } = this.opts;
    const V = this.vocabSize;
    let [B, T] = checkTextBatch(this.name, data, null);
    let { obs, target } = data;
    if (this.opts.crop) {
      [B, T] = [Math.min(B, this.opts.crop.batchSize), Math.min(T, this.opts.crop.sequenceLength)];
      obs = tf.slice(obs, [0, 0], [B, T]);
      target = tf.slice(target, [0, 0], [B, T]);
    }
    const lead = K === null ? [] : [K];
    let x: tf.Tensor;
    if (K === null) {
      x = tf.gather(p.embed.embeddings, tf.reshape(obs, [B * T]));
    } else {
      // Member k's ids index rows k*V.. of the K tables laid end to end: one gather for all.
      const offsets = tf.mul(tf.range(0, K, 1, 'int32'), tf.scalar(V, 'int32'));
      const ids = tf.add(tf.reshape(offsets, [K, 1]), tf.reshape(obs, [1, B * T]));
      x = tf.reshape(tf.gather(tf.reshape(p.embed.embeddings, [K * V, E]), tf.reshape(ids, [K * B * T])), [
        K,
        B * T,
        E,
      ]);
    }
    // Input projections of every position at once; only the recurrence runs step by step.
    const G = GATES[cell];
    const xp = tf.reshape(linear(x, { w: p.core.w_i, b: p.core.b }), [...lead, B, T, G * H]);
    const steps = tf.unstack(xp, lead.length + 1);
    const initial = (i: number) => {
      const s = p.initial_state[`initial_state_${i}`]!;
      return K === null ? tf.tile(s, [B, 1]) : tf.tile(s, [1, B, 1]);
    };
    let h = initial(0);
    let c = cell === 'LSTM' ? initial(1) : undefined;
    const [wZR, wA] = cell === 'GRU' ? tf.split(p.core.w_h, [2 * H, H], -1) : [undefined, undefined];
    const outs: tf.Tensor[] = [];
    for (const xt of steps) {
      if (cell === 'VanillaRNN') {
        h = tf.tanh(tf.add(xt, tf.matMul(h, p.core.w_h)));
      } else if (cell === 'GRU') {
        const [xzr, xa] = tf.split(xt, [2 * H, H], -1);
        const [z, r] = tf.split(tf.sigmoid(tf.add(xzr!, tf.matMul(h, wZR!))), 2, -1);
        const a = tf.tanh(tf.add(xa!, tf.matMul(tf.mul(r!, h), wA!)));
        h = tf.add(h, tf.mul(z!, tf.sub(a, h)));
      } else {
        const [i, g, f, o] = tf.split(tf.add(xt, tf.matMul(h, p.core.w_h)), 4, -1);
        // Forget-gate bias of 1, as Haiku's LSTM adds.
        c = tf.add(tf.mul(tf.sigmoid(tf.add(f!, 1)), c!), tf.mul(tf.sigmoid(i!), tf.tanh(g!)));
        h = tf.mul(tf.sigmoid(o!), tf.tanh(c));
      }
      outs.push(h);
    }
    const hs = tf.reshape(tf.stack(outs, lead.length + 1), [...lead, B * T, H]);
    const logits = linear(hs, p.linear);
    return nextTokenLoss(logits, target, V);
  }
}
