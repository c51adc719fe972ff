import { DatasetError } from './errors.js';

/** Names of the datasets this package can load (the reference's TFDS names). */
export type DatasetName = 'fashion_mnist' | 'mnist';

/** The four IDX files of one dataset. */
export type IdxFileRole = 'trainImages' | 'trainLabels' | 'testImages' | 'testLabels';

/** One IDX file of a dataset: its name on the mirrors and the checks it must pass. */
export interface IdxFileInfo {
  /** File name on the mirrors and on disk (gzip-compressed). */
  fileName: string;
  /** SHA-256 of the unpacked IDX bytes (equal for every copy, whatever its gzip header). */
  sha256: string;
  /** Length of the unpacked IDX bytes. */
  unpackedBytes: number;
}

/** What this package knows about a dataset: where it lives and what its files must be. */
export interface DatasetInfo {
  /** The dataset's name, as in the reference (`'fashion_mnist'`, `'mnist'`). */
  name: DatasetName;
  /** Folder name under a cache root (`$LOPT_DATA_DIR/<dirName>/`). */
  dirName: string;
  /** Number of label classes. */
  numClasses: number;
  /** Official mirrors, tried in order. */
  mirrors: readonly string[];
  /** Folders a system package installs the files into (Debian), searched before downloading. */
  systemDirs: readonly string[];
  /** The four files. */
  files: Readonly<Record<IdxFileRole, IdxFileInfo>>;
}

/** The roles in the order files are loaded: small files first, so a bad one fails fast. */
export const IDX_FILE_ROLES: readonly IdxFileRole[] = ['trainLabels', 'testLabels', 'trainImages', 'testImages'];

// Sums of the unpacked IDX bytes: the compressed bytes differ between copies (Debian
// rewrites the gzip header), the unpacked bytes do not.
const DATASETS: Readonly<Record<DatasetName, DatasetInfo>> = {
  fashion_mnist: {
    name: 'fashion_mnist',
    dirName: 'fashion-mnist',
    numClasses: 10,
    mirrors: ['http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/'],
    systemDirs: ['/usr/share/datasets/fashion-mnist'],
    files: {
      trainImages: {
        fileName: 'train-images-idx3-ubyte.gz',
        sha256: 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
        unpackedBytes: 47040016,
      },
      trainLabels: {
        fileName: 'train-labels-idx1-ubyte.gz',
        sha256: 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
        unpackedBytes: 60008,
      },
      testImages: {
        fileName: 't10k-images-idx3-ubyte.gz',
        sha256: '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
        unpackedBytes: 7840016,
      },
      testLabels: {
        fileName: 't10k-labels-idx1-ubyte.gz',
        sha256: '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
        unpackedBytes: 10008,
      },
    },
  },
  mnist: {
    name: 'mnist',
    dirName: 'mnist',
    numClasses: 10,
    mirrors: ['https://storage.googleapis.com/cvdf-datasets/mnist/'],
    systemDirs: [],
    files: {
      trainImages: {
        fileName: 'train-images-idx3-ubyte.gz',
        sha256: 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
        unpackedBytes: 47040016,
      },
      trainLabels: {
        fileName: 'train-labels-idx1-ubyte.gz',
        sha256: '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5',
        unpackedBytes: 60008,
      },
      testImages: {
        fileName: 't10k-images-idx3-ubyte.gz',
        sha256: '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
        unpackedBytes: 7840016,
      },
      testLabels: {
        fileName: 't10k-labels-idx1-ubyte.gz',
        sha256: 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2',
        unpackedBytes: 10008,
      },
    },
  },
};

/** Names accepted by {@link datasetInfo} and `imageDatasets`. */
export const DATASET_NAMES: readonly DatasetName[] = ['fashion_mnist', 'mnist'];

/**
 * What this package knows about a dataset; throws a {@link DatasetError} listing the known
 * names when `name` is not one of them.
 */
export function datasetInfo(name: string): DatasetInfo {
  if (!Object.hasOwn(DATASETS, name)) {
    throw new DatasetError(
      `Unknown dataset '${name}': known datasets are ${DATASET_NAMES.map((n) => `'${n}'`).join(', ')}`,
    );
  }
  return DATASETS[name as DatasetName];
}
