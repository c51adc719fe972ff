/**
 * The reference's fixed image-MLP tasks (`tasks/fixed/image_mlp.py`), as async factories:
 * the data loads once, then batches are synchronous. Each factory takes
 * {@link ImageTaskOptions} (a `dataDir`, cache root, key, or already loaded `datasets`).
 * @module
 */
import { type ImageDatasetName, type ImageTaskOptions, loadTaskDatasets } from './image-data.js';
import { ImageMLPTask, type ImageMLPTaskOptions } from './image-mlp-task.js';

/** An async factory of an image task. */
export type ImageTaskFactory<T> = (opts?: ImageTaskOptions) => Promise<T>;

interface Def extends Omit<ImageMLPTaskOptions, 'name'> {
  dataset: ImageDatasetName;
  imageSize: readonly [number, number] | null;
  batchSize?: number;
  blackAndWhite?: boolean;
}

function define(name: string, def: Def): ImageTaskFactory<ImageMLPTask> {
  const { dataset, imageSize, batchSize, blackAndWhite, ...task } = def;
  const factory = async (opts: ImageTaskOptions = {}) => {
    const datasets = await loadTaskDatasets(name, dataset, imageSize, opts, { batchSize, blackAndWhite });
    return new ImageMLPTask(datasets, { ...task, name });
  };
  Object.defineProperty(factory, 'name', { value: name });
  return factory;
}

/** 1 hidden layer of 32 ReLU units on Fashion-MNIST resized to 8x8, batch 128. */
export const ImageMLP_FashionMnist8_Relu32 = define('ImageMLP_FashionMnist8_Relu32', {
  dataset: 'fashion_mnist',
  imageSize: [8, 8],
  hiddenSizes: [32],
});

/** 1 hidden layer of 32 ReLU units on Fashion-MNIST resized to 16x16, batch 128. */
export const ImageMLP_FashionMnist16_Relu32 = define('ImageMLP_FashionMnist16_Relu32', {
  dataset: 'fashion_mnist',
  imageSize: [16, 16],
  hiddenSizes: [32],
});

/** 1 hidden layer of 32 ReLU units on Fashion-MNIST resized to 32x32, batch 128. */
export const ImageMLP_FashionMnist32_Relu32 = define('ImageMLP_FashionMnist32_Relu32', {
  dataset: 'fashion_mnist',
  imageSize: [32, 32],
  hiddenSizes: [32],
});

/** 2 hidden layers of 128 ReLU units on 28x28 Fashion-MNIST, batch 128. */
export const ImageMLP_FashionMnist_Relu128x128 = define('ImageMLP_FashionMnist_Relu128x128', {
  dataset: 'fashion_mnist',
  imageSize: null,
  hiddenSizes: [128, 128],
});

/** 3 hidden layers of 128 ReLU units on 28x28 Fashion-MNIST, batch 128 (784-128-128-128-10). */
export const ImageMLP_FashionMnist_128x128x128_Relu = define('ImageMLP_FashionMnist_128x128x128_Relu', {
  dataset: 'fashion_mnist',
  imageSize: null,
  hiddenSizes: [128, 128, 128],
});

/** 3 hidden layers of 128 ReLU units on 28x28 MNIST, batch 128. */
export const ImageMLP_Mnist_128x128x128_Relu = define('ImageMLP_Mnist_128x128x128_Relu', {
  dataset: 'mnist',
  imageSize: null,
  hiddenSizes: [128, 128, 128],
});

/**
 * 1 hidden layer of 32 tanh units on 8x8 Fashion-MNIST. Not in the reference (which
 * defines its tanh MLPs on CIFAR-10 only): the 8x8 task with the reference's tanh variant.
 */
export const ImageMLP_FashionMnist8_Tanh32 = define('ImageMLP_FashionMnist8_Tanh32', {
  dataset: 'fashion_mnist',
  imageSize: [8, 8],
  hiddenSizes: [32],
  activation: 'tanh',
});

/**
 * 1 hidden layer of 32 ReLU units on 8x8 Fashion-MNIST with the squared-error loss to
 * one-hot labels of the reference's `_MLPImageTaskMSE` (which it uses on CIFAR-10 only).
 */
export const ImageMLP_FashionMnist8_Relu32_MSE = define('ImageMLP_FashionMnist8_Relu32_MSE', {
  dataset: 'fashion_mnist',
  imageSize: [8, 8],
  hiddenSizes: [32],
  loss: 'mse',
});

/**
 * 1 hidden layer of 32 units with LayerNorm then ReLU on 8x8 Fashion-MNIST, as the
 * reference's `_MLPImageTaskNorm` (which it uses on CIFAR-10 only).
 */
export const ImageMLP_FashionMnist8_LayerNorm_Relu32 = define('ImageMLP_FashionMnist8_LayerNorm_Relu32', {
  dataset: 'fashion_mnist',
  imageSize: [8, 8],
  hiddenSizes: [32],
  layerNorm: true,
});

/** As {@link ImageMLP_FashionMnist8_LayerNorm_Relu32} with tanh. */
export const ImageMLP_FashionMnist8_LayerNorm_Tanh32 = define('ImageMLP_FashionMnist8_LayerNorm_Tanh32', {
  dataset: 'fashion_mnist',
  imageSize: [8, 8],
  hiddenSizes: [32],
  layerNorm: true,
  activation: 'tanh',
});

/** 1 hidden layer of 32 ReLU units on 8x8 black-and-white CIFAR-10 (needs `dataDir`). */
export const ImageMLP_Cifar10BW8_Relu32 = define('ImageMLP_Cifar10BW8_Relu32', {
  dataset: 'cifar10',
  imageSize: [8, 8],
  blackAndWhite: true,
  hiddenSizes: [32],
});

/** 1 hidden layer of 32 ReLU units on 8x8 CIFAR-10 (needs `dataDir`). */
export const ImageMLP_Cifar10_8_Relu32 = define('ImageMLP_Cifar10_8_Relu32', {
  dataset: 'cifar10',
  imageSize: [8, 8],
  hiddenSizes: [32],
});

/** 3 hidden layers of 128 ReLU units on 32x32 CIFAR-10 (needs `dataDir`). */
export const ImageMLP_Cifar10_128x128x128_Relu = define('ImageMLP_Cifar10_128x128x128_Relu', {
  dataset: 'cifar10',
  imageSize: [32, 32],
  hiddenSizes: [128, 128, 128],
});

/** 3 hidden layers of 128 ReLU units on 32x32 CIFAR-100 (needs `dataDir`). */
export const ImageMLP_Cifar100_128x128x128_Relu = define('ImageMLP_Cifar100_128x128x128_Relu', {
  dataset: 'cifar100',
  imageSize: [32, 32],
  hiddenSizes: [128, 128, 128],
});

/** 3 hidden layers of 128 tanh units on CIFAR-10, batch 64 (needs `dataDir`). */
export const ImageMLP_Cifar10_128x128x128_Tanh_bs64 = define('ImageMLP_Cifar10_128x128x128_Tanh_bs64', {
  dataset: 'cifar10',
  imageSize: [32, 32],
  hiddenSizes: [128, 128, 128],
  activation: 'tanh',
  batchSize: 64,
});

/** 3 hidden layers of 128 tanh units on CIFAR-10, batch 128 (needs `dataDir`). */
export const ImageMLP_Cifar10_128x128x128_Tanh_bs128 = define('ImageMLP_Cifar10_128x128x128_Tanh_bs128', {
  dataset: 'cifar10',
  imageSize: [32, 32],
  hiddenSizes: [128, 128, 128],
  activation: 'tanh',
});

/** 3 hidden layers of 128 tanh units on CIFAR-10, batch 256 (needs `dataDir`). */
export const ImageMLP_Cifar10_128x128x128_Tanh_bs256 = define('ImageMLP_Cifar10_128x128x128_Tanh_bs256', {
  dataset: 'cifar10',
  imageSize: [32, 32],
  hiddenSizes: [128, 128, 128],
  activation: 'tanh',
  batchSize: 256,
});

/** 2 hidden layers of 256 ReLU units on CIFAR-10 (needs `dataDir`). */
export const ImageMLP_Cifar10_256x256_Relu = define('ImageMLP_Cifar10_256x256_Relu', {
  dataset: 'cifar10',
  imageSize: [32, 32],
  hiddenSizes: [256, 256],
});

/** 3 hidden layers of 128 ReLU units on CIFAR-10 with the squared-error loss (needs `dataDir`). */
export const ImageMLP_Cifar10_128x128x128_Relu_MSE = define('ImageMLP_Cifar10_128x128x128_Relu_MSE', {
  dataset: 'cifar10',
  imageSize: [32, 32],
  hiddenSizes: [128, 128, 128],
  loss: 'mse',
});

/** 3 hidden layers of 128 units, LayerNorm then ReLU, on CIFAR-10 (needs `dataDir`). */
export const ImageMLP_Cifar10_128x128x128_LayerNorm_Relu = define('ImageMLP_Cifar10_128x128x128_LayerNorm_Relu', {
  dataset: 'cifar10',
  imageSize: [32, 32],
  hiddenSizes: [128, 128, 128],
  layerNorm: true,
});

/** 3 hidden layers of 128 units, LayerNorm then tanh, on CIFAR-10 (needs `dataDir`). */
export const ImageMLP_Cifar10_128x128x128_LayerNorm_Tanh = define('ImageMLP_Cifar10_128x128x128_LayerNorm_Tanh', {
  dataset: 'cifar10',
  imageSize: [32, 32],
  hiddenSizes: [128, 128, 128],
  layerNorm: true,
  activation: 'tanh',
});
