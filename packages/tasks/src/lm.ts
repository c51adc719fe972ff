/**
 * Fixed language-model tasks on the Jargon File's bytes, after the reference's
 * `tasks/fixed/rnn_lm.py` and `tasks/fixed/transformer_lm.py`: async factories that load
 * the corpus once (batches are then synchronous). Each takes {@link TextTaskOptions} (a
 * `dataDir`, cache root, key, batch size, or a corpus already loaded).
 * @module
 */
import { RNNLMTask, type RNNLMTaskOptions } from './rnn-lm.js';
import { loadTextTaskDatasets, type TextTaskOptions } from './text-data.js';
import { TransformerLMTask, type TransformerLMTaskOptions } from './transformer-lm.js';

/** An async factory of a language-model task. */
export type TextTaskFactory<T> = (opts?: TextTaskOptions) => Promise<T>;

function defineRNN(
  name: string,
  def: Omit<RNNLMTaskOptions, 'name'> & { batchSize: number; sequenceLength: number },
): TextTaskFactory<RNNLMTask> {
  const { batchSize, sequenceLength, ...task } = def;
  const factory = async (opts: TextTaskOptions = {}) =>
    new RNNLMTask(await loadTextTaskDatasets(name, opts, { batchSize, sequenceLength }), { ...task, name });
  Object.defineProperty(factory, 'name', { value: name });
  return factory;
}

function defineTransformer(
  name: string,
  def: Omit<TransformerLMTaskOptions, 'name'> & { batchSize: number; sequenceLength: number },
): TextTaskFactory<TransformerLMTask> {
  const { batchSize, sequenceLength, ...task } = def;
  const factory = async (opts: TextTaskOptions = {}) =>
    new TransformerLMTask(await loadTextTaskDatasets(name, opts, { batchSize, sequenceLength }), { ...task, name });
  Object.defineProperty(factory, 'name', { value: name });
  return factory;
}

/** Elman RNN (tanh) of 64 units over 32-wide byte embeddings, windows of 32 bytes, batch 32. */
export const RNNLM_JargonByte_Patch32_VanillaRNN64_Embed32 = defineRNN(
  'RNNLM_JargonByte_Patch32_VanillaRNN64_Embed32',
  {
    cell: 'VanillaRNN',
    hiddenSize: 64,
    embedSize: 32,
    batchSize: 32,
    sequenceLength: 32,
  },
);

/** GRU of 64 units over 32-wide byte embeddings, windows of 32 bytes, batch 32. */
export const RNNLM_JargonByte_Patch32_GRU64_Embed32 = defineRNN('RNNLM_JargonByte_Patch32_GRU64_Embed32', {
  cell: 'GRU',
  hiddenSize: 64,
  embedSize: 32,
  batchSize: 32,
  sequenceLength: 32,
});

/** LSTM of 64 units over 32-wide byte embeddings, windows of 32 bytes, batch 32. */
export const RNNLM_JargonByte_Patch32_LSTM64_Embed32 = defineRNN('RNNLM_JargonByte_Patch32_LSTM64_Embed32', {
  cell: 'LSTM',
  hiddenSize: 64,
  embedSize: 32,
  batchSize: 32,
  sequenceLength: 32,
});

/** LSTM of 128 units over 64-wide byte embeddings, windows of 32 bytes, batch 128 (the reference's `Patch32_LSTM128_Embed64` shape). */
export const RNNLM_JargonByte_Patch32_LSTM128_Embed64 = defineRNN('RNNLM_JargonByte_Patch32_LSTM128_Embed64', {
  cell: 'LSTM',
  hiddenSize: 128,
  embedSize: 64,
  batchSize: 128,
  sequenceLength: 32,
});

/** Causal transformer: 2 pre-LayerNorm blocks, width 64, 4 heads, 32 learned positions, windows of 32 bytes, batch 32. */
export const TransformerLM_JargonByte_Patch32_2layer_64width = defineTransformer(
  'TransformerLM_JargonByte_Patch32_2layer_64width',
  {
    numLayers: 2,
    dModel: 64,
    numHeads: 4,
    maxPositions: 32,
    batchSize: 32,
    sequenceLength: 32,
  },
);
