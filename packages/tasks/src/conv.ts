/**
 * Conv-net tasks as async factories: the reference's CIFAR ones (`tasks/fixed/conv.py`,
 * data from a local `dataDir`) and the same architectures on Fashion-MNIST and MNIST at
 * 8, 16 and 28 px. Each factory takes {@link ImageTaskOptions}.
 * @module
 */
import { ConvTask, type ConvTaskOptions } from './conv-task.js';
import { type ImageDatasetName, type ImageTaskOptions, loadTaskDatasets } from './image-data.js';
import type { ImageTaskFactory } from './image-mlp.js';

interface Def extends Omit<ConvTaskOptions, 'name'> {
  dataset: ImageDatasetName;
  imageSize: readonly [number, number] | null;
  batchSize?: number;
}

function define(name: string, def: Def): ImageTaskFactory<ConvTask> {
  const { dataset, imageSize, batchSize, ...task } = def;
  const factory = async (opts: ImageTaskOptions = {}) => {
    const datasets = await loadTaskDatasets(name, dataset, imageSize, opts, { batchSize });
    return new ConvTask(datasets, { ...task, name });
  };
  Object.defineProperty(factory, 'name', { value: name });
  return factory;
}

/** Convs of 16 and 32 channels on Fashion-MNIST resized to 8x8 (as `Conv_Cifar10_8_16x32`). */
export const Conv_FashionMnist_8_16x32 = define('Conv_FashionMnist_8_16x32', {
  dataset: 'fashion_mnist',
  imageSize: [8, 8],
  hiddenUnits: [16, 32],
});

/** Convs of 32, 64, 64 channels on Fashion-MNIST resized to 16x16 (as `Conv_Cifar10_16_32x64x64`). */
export const Conv_FashionMnist_16_32x64x64 = define('Conv_FashionMnist_16_32x64x64', {
  dataset: 'fashion_mnist',
  imageSize: [16, 16],
  hiddenUnits: [32, 64, 64],
});

/** Convs of 32, 64, 64 channels on 28x28 Fashion-MNIST (as `Conv_Cifar10_32x64x64`). */
export const Conv_FashionMnist_32x64x64 = define('Conv_FashionMnist_32x64x64', {
  dataset: 'fashion_mnist',
  imageSize: null,
  hiddenUnits: [32, 64, 64],
});

/** Convs of 16 and 32 channels on MNIST resized to 8x8. */
export const Conv_Mnist_8_16x32 = define('Conv_Mnist_8_16x32', {
  dataset: 'mnist',
  imageSize: [8, 8],
  hiddenUnits: [16, 32],
});

/**
 * Three 3x3 convs of 16, 32, 32 channels, each with stride 2 (28 -> 14 -> 7 -> 4), ReLU, and
 * a linear layer on the flattened 4x4x32 features, on 28x28 MNIST: the small conv net of
 * Celo2's published comparison. Not in the reference.
 */
export const Conv_Mnist_16x32x32_Stride2 = define('Conv_Mnist_16x32x32_Stride2', {
  dataset: 'mnist',
  imageSize: null,
  hiddenUnits: [16, 32, 32],
  strides: [2, 2, 2],
  head: 'flatten',
});

/** Convs of 32, 64, 64 channels on MNIST resized to 16x16. */
export const Conv_Mnist_16_32x64x64 = define('Conv_Mnist_16_32x64x64', {
  dataset: 'mnist',
  imageSize: [16, 16],
  hiddenUnits: [32, 64, 64],
});

/** Convs of 32, 64, 64 channels on 28x28 MNIST. */
export const Conv_Mnist_32x64x64 = define('Conv_Mnist_32x64x64', {
  dataset: 'mnist',
  imageSize: null,
  hiddenUnits: [32, 64, 64],
});

/** Convs of 16 and 32 channels on 8x8 CIFAR-10 (needs `dataDir`). */
export const Conv_Cifar10_8_16x32 = define('Conv_Cifar10_8_16x32', {
  dataset: 'cifar10',
  imageSize: [8, 8],
  hiddenUnits: [16, 32],
});

/** Convs of 32, 64, 64 channels on 16x16 CIFAR-10 (needs `dataDir`). */
export const Conv_Cifar10_16_32x64x64 = define('Conv_Cifar10_16_32x64x64', {
  dataset: 'cifar10',
  imageSize: [16, 16],
  hiddenUnits: [32, 64, 64],
});

/** Convs of 32, 64, 64 channels on 32x32 CIFAR-10 (needs `dataDir`). */
export const Conv_Cifar10_32x64x64 = define('Conv_Cifar10_32x64x64', {
  dataset: 'cifar10',
  imageSize: [32, 32],
  hiddenUnits: [32, 64, 64],
});

/** As {@link Conv_Cifar10_32x64x64} with tanh (needs `dataDir`). */
export const Conv_Cifar10_32x64x64_Tanh = define('Conv_Cifar10_32x64x64_Tanh', {
  dataset: 'cifar10',
  imageSize: [32, 32],
  hiddenUnits: [32, 64, 64],
  activation: 'tanh',
});

/** As {@link Conv_Cifar10_32x64x64} with a LayerNorm over channels after each activation (needs `dataDir`). */
export const Conv_Cifar10_32x64x64_layernorm = define('Conv_Cifar10_32x64x64_layernorm', {
  dataset: 'cifar10',
  imageSize: [32, 32],
  hiddenUnits: [32, 64, 64],
  layerNorm: true,
});

/** Convs of 32, 64, 64 channels on 32x32 CIFAR-100 (needs `dataDir`). */
export const Conv_Cifar100_32x64x64 = define('Conv_Cifar100_32x64x64', {
  dataset: 'cifar100',
  imageSize: [32, 32],
  hiddenUnits: [32, 64, 64],
});

/** As {@link Conv_Cifar100_32x64x64} with batch 32 (needs `dataDir`). */
export const Conv_Cifar100_32x64x64_BS32 = define('Conv_Cifar100_32x64x64_BS32', {
  dataset: 'cifar100',
  imageSize: [32, 32],
  hiddenUnits: [32, 64, 64],
  batchSize: 32,
});

/** As {@link Conv_Cifar100_32x64x64} with tanh (needs `dataDir`). */
export const Conv_Cifar100_32x64x64_Tanh = define('Conv_Cifar100_32x64x64_Tanh', {
  dataset: 'cifar100',
  imageSize: [32, 32],
  hiddenUnits: [32, 64, 64],
  activation: 'tanh',
});
