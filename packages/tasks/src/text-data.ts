import { jargonFileDatasets, type TextDatasetOptions, type TextDatasets } from '@lopt/datasets';

/**
 * Options of the language-model task factories: where and how to load the corpus (passed
 * to `@lopt/datasets`' `jargonFileDatasets`), or `textDatasets` already loaded. The
 * sequence length is the task's own; `batchSize` defaults to the task's.
 */
export interface TextTaskOptions extends Omit<TextDatasetOptions, 'sequenceLength'> {
  /** A corpus already loaded; its vocabulary and sequence length must fit the task. */
  textDatasets?: TextDatasets;
}

/** Loads (or checks, when given) the corpus of a language-model task. */
export async function loadTextTaskDatasets(
  task: string,
  opts: TextTaskOptions,
  shape: { batchSize: number; sequenceLength: number },
): Promise<TextDatasets> {
  const { textDatasets, ...rest } = opts;
  if (textDatasets) return textDatasets;
  return jargonFileDatasets({
    ...rest,
    batchSize: rest.batchSize ?? shape.batchSize,
    sequenceLength: shape.sequenceLength,
  }).catch((e: Error) => {
    throw new Error(`${task}: ${e.message}`, { cause: e });
  });
}
