import * as tf from '@tensorflow/tfjs-core';
import { hasKernel, runKernel, unbroadcast } from './util.js';

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
  hasKernel('Conv2DBackpropFilter')
    ? runKernel('Conv2DBackpropFilter', { x, dy }, { ...convAttrs(attrs), filterShape })
    : convFilterByConv(x, dy, filterShape, attrs);

/** Inserts `s - 1` zeros between the rows and columns of an NHWC tensor (differentiably). */
function dilate(dy: T, sh: number, sw: number): T {
  if (sh === 1 && sw === 1) return dy;
  const [n, h, w, c] = dy.shape as [number, number, number, number];
  const spaced = tf.pad(tf.reshape(dy, [n, h, 1, w, 1, c]), [
    [0, 0],
    [0, 0],
    [0, sh - 1],
    [0, 0],
    [0, sw - 1],
    [0, 0],
  ]);
  return tf.slice(tf.reshape(spaced, [n, h * sh, w * sw, c]), [0, 0, 0, 0], [n, (h - 1) * sh + 1, (w - 1) * sw + 1, c]);
}

/**
 * The filter gradient as a forward convolution, for backends without a
 * Conv2DBackpropFilter kernel (wasm): with batch and channels swapped, correlating the
 * padded input with dy spread out by the stride gives exactly the filter gradient.
 */
function convFilterByConv(x: T, dy: T, filterShape: number[], attrs: tf.NamedAttrMap): T {
  const { strides, pad, dataFormat } = convAttrs(attrs);
  if (dataFormat !== 'NHWC') throw new Error('conv2d: filter gradients need NHWC data on this backend');
  const [sh, sw] = Array.isArray(strides) ? (strides as number[]) : [strides as number, strides as number];
  const [kh, kw] = filterShape as [number, number, number, number];
  const [, h, w] = x.shape as [number, number, number, number];
  const [, outH, outW] = dy.shape as [number, number, number, number];
  let top = 0;
  let left = 0;
  if (pad === 'same') {
    top = Math.floor(Math.max((outH - 1) * sh! + kh - h, 0) / 2);
    left = Math.floor(Math.max((outW - 1) * sw! + kw - w, 0) / 2);
  } else if (typeof pad === 'number') {
    top = pad;
    left = pad;
  } else if (pad !== 'valid') {
    throw new Error('conv2d: explicit padding is not supported for filter gradients on this backend');
  }
  const needH = (outH - 1) * sh! + kh;
  const needW = (outW - 1) * sw! + kw;
  const padded = tf.pad(x, [
    [0, 0],
    [top, Math.max(needH - h - top, 0)],
    [left, Math.max(needW - w - left, 0)],
    [0, 0],
  ]);
  const xs = tf.transpose(padded, [3, 1, 2, 0]);
  const ds = tf.transpose(dilate(dy, sh!, sw!), [1, 2, 0, 3]);
  const corr = tf.conv2d(xs as tf.Tensor4D, ds as tf.Tensor4D, 1, 'valid');
  const cropped = tf.slice(corr, [0, 0, 0, 0], [-1, kh, kw, -1]);
  return tf.transpose(cropped, [1, 2, 0, 3]);
}

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
          {
            filterSize: attrs.filterSize,
            strides: attrs.strides,
            pad: attrs.pad,
            dimRoundingMode: attrs.dimRoundingMode,
          },
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
          {
            filterSize: attrs.filterSize,
            strides: attrs.strides,
            pad: attrs.pad,
            dimRoundingMode: attrs.dimRoundingMode,
          },
        ),
      input: () => tf.zerosLike(input!),
    }),
  },
];
