import { type PRNGKey, random } from '@lopt/pytree';
import { BYTE_VOCAB_SIZE } from './byte-vocabulary.js';
import { defaultCacheRoot } from './cache-dir.js';
import { SPLIT_NAMES, type SplitName } from './datasets.js';
import { DatasetError } from './errors.js';
import { ShuffledWindowIterator, type TextBatchIterator } from './text-batch-iterator.js';
import { type TextCorpusName, textCorpusInfo } from './text-corpus.js';
import { checkTextFile, loadTextCorpus } from './text-source.js';

/** Options of {@link textDatasets} and {@link jargonFileDatasets}. */
export interface TextDatasetOptions {
  /** Windows per batch (default 128). */
  batchSize?: number;
  /** Tokens per window (default 32, as the reference's `Patch32` tasks). */
  sequenceLength?: number;
  /** Key the shuffles derive from (default `random.PRNGKey(0)`); split `i` uses `foldIn(key, i)`. */
  key?: PRNGKey;
  /** Node: a folder holding the corpus's file, searched first. */
  dataDir?: string;
  /**
   * Node: the cache root, holding one folder per corpus (`<root>/jargon-file/`). Default
   * `$LOPT_DATA_DIR`, else the platform cache folder (see `defaultCacheRoot`); `null`
   * leaves it out.
   */
  cacheRoot?: string | null;
  /** Node: system folders searched last (default: where the corpus's Debian package installs it). */
  systemDirs?: readonly string[];
  /**
   * The corpus file's contents (gzip or plain), instead of looking for the file: for
   * browsers, or a copy already in memory. Checked like a file.
   */
  bytes?: Uint8Array;
  /** Check the SHA-256 of the unpacked text (default `true`); off only for a different text on purpose. */
  verify?: boolean;
}

/** A loaded text corpus: four endless batch iterators plus what a model needs to know. */
export interface TextDatasets {
  /** The corpus's name, e.g. `'jargon_file'`. */
  name: string;
  /** Where the text was read from (a path, or `'bytes'`). */
  source: string;
  /** Batches of text[0:80%]. */
  train: TextBatchIterator;
  /** Batches of text[80%:85%]. */
  innerValid: TextBatchIterator;
  /** Batches of text[85%:90%]. */
  outerValid: TextBatchIterator;
  /** Batches of text[90%:]. */
  test: TextBatchIterator;
  /** Tokens in the vocabulary (256: byte-level). */
  vocabSize: number;
  /** The number of next-token classes: `vocabSize`. */
  numClasses: number;
  /** Tokens per window. */
  sequenceLength: number;
  /** Windows per batch. */
  batchSize: number;
  /** Tokens in each split. */
  splitSizes: Record<SplitName, number>;
  /** Shapes (with the batch dimension) and dtypes of a batch. */
  elementSpec: { obs: { shape: number[]; dtype: 'int32' }; target: { shape: number[]; dtype: 'int32' } };
  /** The iterator of a split by name; an unknown name throws a {@link DatasetError}. */
  split(name: SplitName): TextBatchIterator;
  /** The token ids of a split, in text order (shared with the cache: read only). */
  tokens(name: SplitName): Uint8Array;
}

/**
 * The Jargon File as a byte-level language-modelling corpus (see {@link textDatasets}).
 * Found in `dataDir`, `$LOPT_DATA_DIR/jargon-file/`, the cache folder, or where Debian's
 * `jargon-text` package installs it (`/usr/share/doc/jargon-text/jargon.txt.gz`).
 */
export function jargonFileDatasets(opts: TextDatasetOptions = {}): Promise<TextDatasets> {
  return textDatasets('jargon_file', opts);
}

/**
 * Loads a text corpus by name and serves it as `[batch, sequence]` windows of byte tokens
 * (vocabulary 256), split by position: train = the first 80% of the text, innerValid the
 * next 5%, outerValid the next 5%, test the last 10% (contiguous, so no window crosses
 * splits). The file is read, unpacked and checked once per process.
 */
export async function textDatasets(name: TextCorpusName, opts: TextDatasetOptions = {}): Promise<TextDatasets> {
  const info = textCorpusInfo(name);
  const batchSize = opts.batchSize ?? 128;
  const sequenceLength = opts.sequenceLength ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new DatasetError(`batchSize must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(sequenceLength) || sequenceLength < 1) {
    throw new DatasetError(`sequenceLength must be a positive integer, got ${sequenceLength}`);
  }
  const key = opts.key ?? random.PRNGKey(0);
  if (!random.isPRNGKey(key)) throw new DatasetError('key must be a PRNG key (random.PRNGKey(seed) or random.split)');
  const verify = opts.verify ?? true;

  let text: Uint8Array;
  let source: string;
  if (opts.bytes) {
    text = await checkTextFile(opts.bytes, 'bytes', info, verify);
    source = 'bytes';
  } else {
    const cacheRoot = opts.cacheRoot === null ? undefined : (opts.cacheRoot ?? defaultCacheRoot());
    ({ text, source } = await loadTextCorpus(info, {
      dataDir: opts.dataDir,
      cacheDir: cacheRoot ? `${cacheRoot.replace(/[\\/]+$/, '')}/${info.dirName}` : undefined,
      systemDirs: opts.systemDirs ?? info.systemDirs,
      verify,
    }));
  }

  const n = text.length;
  const cuts = [0, 80, 85, 90, 100].map((p) => Math.round((n * p) / 100));
  const tokens = {} as Record<SplitName, Uint8Array>;
  const iterators = {} as Record<SplitName, TextBatchIterator>;
  SPLIT_NAMES.forEach((s, i) => {
    tokens[s] = text.subarray(cuts[i]!, cuts[i + 1]!);
    iterators[s] = new ShuffledWindowIterator(
      tokens[s],
      batchSize,
      sequenceLength,
      random.foldIn(key, i),
      `${info.name} ${s}`,
    );
  });
  const checkSplit = (s: string): SplitName => {
    if (!(SPLIT_NAMES as readonly string[]).includes(s)) {
      throw new DatasetError(`Unknown split '${s}' of ${info.name}: splits are ${SPLIT_NAMES.join(', ')}`);
    }
    return s as SplitName;
  };
  return {
    name: info.name,
    source,
    ...iterators,
    vocabSize: BYTE_VOCAB_SIZE,
    numClasses: BYTE_VOCAB_SIZE,
    sequenceLength,
    batchSize,
    splitSizes: {
      train: tokens.train.length,
      innerValid: tokens.innerValid.length,
      outerValid: tokens.outerValid.length,
      test: tokens.test.length,
    },
    elementSpec: {
      obs: { shape: [batchSize, sequenceLength], dtype: 'int32' },
      target: { shape: [batchSize, sequenceLength], dtype: 'int32' },
    },
    split: (s) => iterators[checkSplit(s)],
    tokens: (s) => tokens[checkSplit(s)],
  };
}
