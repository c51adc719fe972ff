import { DatasetError } from './errors.js';

/** The text corpora lopt knows. */
export type TextCorpusName = 'jargon_file';

/** Every text corpus name. */
export const TEXT_CORPUS_NAMES: readonly TextCorpusName[] = ['jargon_file'];

/** Where a text corpus comes from and how it is checked. */
export interface TextCorpusInfo {
  /** The corpus's name, e.g. `'jargon_file'`. */
  name: TextCorpusName;
  /** A one-line description. */
  title: string;
  /** Its folder in the cache root (`<root>/<dirName>/`). */
  dirName: string;
  /** The file name as shipped (gzip); the same name without `.gz` is accepted too. */
  fileName: string;
  /** SHA-256 of the unpacked text. */
  sha256: string;
  /** Length of the unpacked text in bytes. */
  bytes: number;
  /** Folders a system package installs the file into. */
  systemDirs: readonly string[];
  /** The Debian package that installs it. */
  debianPackage: string;
  /** The license the text is under. */
  license: string;
}

const CORPORA: Record<TextCorpusName, TextCorpusInfo> = {
  jargon_file: {
    name: 'jargon_file',
    title: 'The Jargon File 4.4.7 (Eric S. Raymond et al.), plain UTF-8 text, 1.68 MB of English prose',
    dirName: 'jargon-file',
    fileName: 'jargon.txt.gz',
    sha256: '40dfb4b98191a670a09a183d5798d50f243d23fdbd1495dcc0aca2ce5895ba97',
    bytes: 1681817,
    systemDirs: ['/usr/share/doc/jargon-text'],
    debianPackage: 'jargon-text',
    license: 'public domain',
  },
};

/** The catalog entry of a text corpus; an unknown name throws a {@link DatasetError}. */
export function textCorpusInfo(name: string): TextCorpusInfo {
  const info = CORPORA[name as TextCorpusName];
  if (!info) throw new DatasetError(`Unknown text corpus '${name}': known corpora are ${TEXT_CORPUS_NAMES.join(', ')}`);
  return info;
}
