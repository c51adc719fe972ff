import * as tf from '@tensorflow/tfjs-core';
import { runKernel, unbroadcast } from './util.js';

type T = tf.Tensor;

function convAttrs(attrs: tf.NamedAttrMap) {
  const dil = attrs.dilations as number | [number, number] | undefined;
  if (dil !== undefined && (Array.isArray(dil) ? dil.some((d) => d !== 1) : dil !== 1)) {
    throw new Error('conv2d: gradients with dilations > 1 are not supported');
  }
  return {
    strides: attrs.strides,
    pad: attrs.pad,
    dataFormat: attrs.dataFormat ?? 'NHWC',
    dimRoundingMode: attrs.dimRoundingMode,
  };
}

const conv2d = (x: T, f: T, attrs: tf.NamedAttrMap) =>
  runKernel('Conv2D', { x, filter: f }, { ...convAttrs(attrs), dilations: [1, 1] });
const convInput = (dy: T, f: T, inputShape: number[], attrs: tf.NamedAttrMap) =>
  runKernel('Conv2DBackpropInput', { dy, filter: f }, { ...convAttrs(attrs), inputShape });
const convFilter = (x: T, dy: T, filterShape: number[], attrs: tf.NamedAttrMap) =>
  runKernel('Conv2DBackpropFilter', { x, dy }, { ...convAttrs(attrs), filterShape });

export const layerGradients: tf.GradConfig[] = [
  {
    kernelName: 'BatchMatMul',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, [a, b], attrs) => {
      const d = dy as T;
      const tA = attrs.transposeA as boolean;
      const tB = attrs.transposeB as boolean;
      const mm = (x: T, y: T, tx: boolean, ty: boolean) => tf.matMul(x, y, tx, ty);
      let da: () => T;
      let db: () => T;
      if (!tA && !tB) {
        da = () => mm(d, b!, false, true);
        db = () => mm(a!, d, true, false);
      } else if (!tA && tB) {
        da = () => mm(d, b!, false, false);
        db = () => mm(d, a!, true, false);
      } else if (tA && !tB) {
        da = () => mm(b!, d, false, true);
        db = () => mm(a!, d, false, false);
      } else {
        da = () => mm(b!, d, true, true);
        db = () => mm(d, a!, true, true);
      }
      return { a: () => unbroadcast(da(), a!.shape), b: () => unbroadcast(db(), b!.shape) };
    },
  },
  {
    kernelName: 'Conv2D',
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, [x, filter], attrs) => ({
      x: () => convInput(dy as T, filter!, x!.shape, attrs),
      filter: () => convFilter(x!, dy as T, filter!.shape, attrs),
    }),
  },
  {
    // dx = conv^T(dy, f) is linear in dy; its adjoints are a conv and a filter gradient.
    kernelName: 'Conv2DBackpropInput',
    inputsToSave: ['dy', 'filter'],
    gradFunc: (g, [dy, filter], attrs) => ({
      dy: () => conv2d(g as T, filter!, attrs),
      filter: () => convFilter(g as T, dy!, filter!.shape, attrs),
    }),
  },
  {
    kernelName: 'Conv2DBackpropFilter',
    inputsToSave: ['x', 'dy'],
    gradFunc: (g, [x, dy], attrs) => ({
      x: () => convInput(dy!, g as T, x!.shape, attrs),
      dy: () => conv2d(x!, g as T, attrs),
    }),
  },
  {
    kernelName: 'AvgPool',
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => ({
      x: () =>
        runKernel(
          'AvgPoolGrad',
          { dy: dy as T, input: x! },
          { filterSize: attrs.filterSize, strides: attrs.strides, pad: attrs.pad, dimRoundingMode: attrs.dimRoundingMode },
        ),
    }),
  },
  {
    // AvgPoolGrad is linear in dy; its adjoint is the pooling itself.
    kernelName: 'AvgPoolGrad',
    inputsToSave: ['input'],
    gradFunc: (g, [input], attrs) => ({
      dy: () =>
        runKernel(
          'AvgPool',
          { x: g as T },
          { filterSize: attrs.filterSize, strides: attrs.strides, pad: attrs.pad, dimRoundingMode: attrs.dimRoundingMode },
        ),
      input: () => tf.zerosLike(input!),
    }),
  },
];
