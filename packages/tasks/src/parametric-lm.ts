import type { TextBatch, TextDatasets } from '@lopt/datasets';
import { type PRNGKey, random } from '@lopt/pytree';
import { BaseTaskFamily } from './base-task.js';
import { asTaskDatasets } from './lm-common.js';
import { choice, logInt } from './parametric-image-mlp.js';
import { RNN_CELLS, type RNNCellName, type RNNLMParams, RNNLMTask } from './rnn-lm.js';
import { loadTextTaskDatasets, type TextTaskOptions } from './text-data.js';
import { type TransformerLMParams, TransformerLMTask } from './transformer-lm.js';

/** Options of the language-model families' `create`. */
export interface ParametricLMOptions extends Omit<TextTaskOptions, 'batchSize'> {
  /** The largest sampled batch size: the corpus is loaded with batches this big (default 32). */
  maxBatchSize?: number;
  /** The longest sampled sequence: the corpus is loaded with windows this long (default 64). */
  maxSequenceLength?: number;
}

/** A sampled {@link ParametricLMRNN} task: plain data. */
export interface ParametricLMRNNCfg {
  /** The recurrent core. */
  cell: RNNCellName;
  /** Hidden units. */
  rnnSize: number;
  /** Embedding width. */
  embedSize: number;
  /** Rows of each batch the task trains on. */
  batchSize: number;
  /** Positions of each window the task trains on. */
  sequenceLength: number;
}

/** A sampled {@link ParametricLMTransformer} task: plain data. */
export interface ParametricLMTransformerCfg {
  /** Transformer blocks (1 or 2). */
  numLayers: number;
  /** Attention heads. */
  numHeads: number;
  /** Model width (a multiple of `numHeads`). */
  dModel: number;
  /** Rows of each batch the task trains on. */
  batchSize: number;
  /** Positions of each window the task trains on (and the model's learned positions). */
  sequenceLength: number;
}

async function loadFamilyData(family: string, opts: ParametricLMOptions): Promise<TextDatasets> {
  const { maxBatchSize = 32, maxSequenceLength = 64, ...rest } = opts;
  return loadTextTaskDatasets(family, rest, { batchSize: maxBatchSize, sequenceLength: maxSequenceLength });
}

function checkCorpus(family: string, text: TextDatasets): void {
  if (text.batchSize < 4 || text.sequenceLength < 4) {
    throw new Error(
      `${family}: the corpus must give batches of at least [4, 4], got [${text.batchSize}, ${text.sequenceLength}]`,
    );
  }
}

/**
 * A family of character (byte) RNN language models, after the reference's
 * `ParametricLMRNN` with its `sample_lm_rnn`: `sample` draws the core (vanilla RNN, GRU or
 * LSTM), its size (log-uniform in [8, 128)), the embedding width ([8, 64)), the batch size
 * and the sequence length (log-uniform from 4 up to the corpus's). All tasks share one
 * corpus loaded at the largest shape; each task trains on the first `batchSize` rows and
 * `sequenceLength` positions of every batch. The reference's sampled vocabulary sizes and
 * other corpora are not sampled: there is one byte-level corpus.
 */
export class ParametricLMRNN extends BaseTaskFamily<ParametricLMRNNCfg, RNNLMParams, TextBatch, undefined> {
  /** The corpus every task draws from. */
  readonly textDatasets: TextDatasets;

  /** A family over a corpus already loaded (use `create` to load one). */
  constructor(textDatasets: TextDatasets) {
    super();
    checkCorpus('ParametricLMRNN', textDatasets);
    this.textDatasets = textDatasets;
    this.datasets = asTaskDatasets(textDatasets);
  }

  /** Loads the Jargon File at the largest shape and makes the family. */
  static async create(opts: ParametricLMOptions = {}): Promise<ParametricLMRNN> {
    return new ParametricLMRNN(await loadFamilyData('ParametricLMRNN', opts));
  }

  /** A config drawn from `key`, deterministically. */
  sample(key: PRNGKey): ParametricLMRNNCfg {
    const [k1, k2, k3, k4, k5] = random.split(key, 5);
    return {
      cell: choice(k1!, RNN_CELLS),
      rnnSize: logInt(k2!, 8, 128),
      embedSize: logInt(k3!, 8, 64),
      batchSize: logInt(k4!, 4, this.textDatasets.batchSize + 1),
      sequenceLength: logInt(k5!, 4, this.textDatasets.sequenceLength + 1),
    };
  }

  /** The RNN language model of `cfg`. */
  taskFn(cfg: ParametricLMRNNCfg): RNNLMTask {
    return new RNNLMTask(this.textDatasets, {
      name: `ParametricLMRNN_${cfg.cell}${cfg.rnnSize}_Embed${cfg.embedSize}_Batch${cfg.batchSize}_Seq${cfg.sequenceLength}`,
      cell: cfg.cell,
      hiddenSize: cfg.rnnSize,
      embedSize: cfg.embedSize,
      vocabSize: this.textDatasets.vocabSize,
      crop: { batchSize: cfg.batchSize, sequenceLength: cfg.sequenceLength },
    });
  }
}

/**
 * A family of small causal transformer language models, after the reference's
 * `ParametricLMTransformer`: `sample` draws 1 or 2 blocks, 1, 2 or 4 heads, a per-head
 * width (log-uniform in [4, 32)), the batch size and the sequence length (log-uniform from
 * 4 up to the corpus's; the model gets exactly that many learned positions). Tasks share
 * one corpus loaded at the largest shape and crop every batch to their own.
 */
export class ParametricLMTransformer extends BaseTaskFamily<
  ParametricLMTransformerCfg,
  TransformerLMParams,
  TextBatch,
  undefined
> {
  /** The corpus every task draws from. */
  readonly textDatasets: TextDatasets;

  /** A family over a corpus already loaded (use `create` to load one). */
  constructor(textDatasets: TextDatasets) {
    super();
    checkCorpus('ParametricLMTransformer', textDatasets);
    this.textDatasets = textDatasets;
    this.datasets = asTaskDatasets(textDatasets);
  }

  /** Loads the Jargon File at the largest shape and makes the family. */
  static async create(opts: ParametricLMOptions = {}): Promise<ParametricLMTransformer> {
    return new ParametricLMTransformer(await loadFamilyData('ParametricLMTransformer', opts));
  }

  /** A config drawn from `key`, deterministically. */
  sample(key: PRNGKey): ParametricLMTransformerCfg {
    const [k1, k2, k3, k4, k5] = random.split(key, 5);
    const numHeads = choice(k2!, [1, 2, 4]);
    return {
      numLayers: choice(k1!, [1, 2]),
      numHeads,
      dModel: numHeads * logInt(k3!, 4, 32),
      batchSize: logInt(k4!, 4, this.textDatasets.batchSize + 1),
      sequenceLength: logInt(k5!, 4, this.textDatasets.sequenceLength + 1),
    };
  }

  /** The transformer language model of `cfg`. */
  taskFn(cfg: ParametricLMTransformerCfg): TransformerLMTask {
    return new TransformerLMTask(this.textDatasets, {
      name: `ParametricLMTransformer_${cfg.numLayers}layer_${cfg.dModel}width_${cfg.numHeads}head_Batch${cfg.batchSize}_Seq${cfg.sequenceLength}`,
      numLayers: cfg.numLayers,
      numHeads: cfg.numHeads,
      dModel: cfg.dModel,
      maxPositions: cfg.sequenceLength,
      vocabSize: this.textDatasets.vocabSize,
      crop: { batchSize: cfg.batchSize, sequenceLength: cfg.sequenceLength },
    });
  }
}
