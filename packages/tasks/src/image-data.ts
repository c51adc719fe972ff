import { type DatasetOptions, type Datasets, fashionMnistDatasets, mnistDatasets } from '@lopt/datasets';
import { cifarDatasets } from './cifar.js';

/** The image datasets tasks are defined on. */
export type ImageDatasetName = 'fashion_mnist' | 'mnist' | 'cifar10' | 'cifar100';

/**
 * Options of the image-task factories: where and how to load the data (passed through to
 * `@lopt/datasets`, or to the CIFAR reader for CIFAR tasks), or `datasets` already loaded.
 * The image size is the task's own; `batchSize` defaults to the task's (128 mostly).
 */
export interface ImageTaskOptions extends Omit<DatasetOptions, 'imageSize'> {
  /** Data already loaded; its image size and classes must fit the task. */
  datasets?: Datasets;
}

/** Loads (or checks, when given) the datasets of an image task. */
export async function loadTaskDatasets(
  task: string,
  dataset: ImageDatasetName,
  imageSize: readonly [number, number] | null,
  opts: ImageTaskOptions,
  defaults: { batchSize?: number; blackAndWhite?: boolean } = {},
): Promise<Datasets> {
  const { datasets, ...rest } = opts;
  if (datasets) {
    const [h, w] = datasets.imageSize;
    if (imageSize && (h !== imageSize[0] || w !== imageSize[1])) {
      throw new Error(
        `${task}: the given datasets have ${h}x${w} images, this task needs ${imageSize[0]}x${imageSize[1]}`,
      );
    }
    return datasets;
  }
  const dopts: DatasetOptions = { batchSize: defaults.batchSize ?? 128, ...rest, imageSize };
  switch (dataset) {
    case 'fashion_mnist':
      return fashionMnistDatasets(dopts);
    case 'mnist':
      return mnistDatasets(dopts);
    case 'cifar10':
    case 'cifar100':
      return cifarDatasets(dataset, { ...dopts, blackAndWhite: defaults.blackAndWhite });
  }
}
