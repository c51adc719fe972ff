import * as tf from '@tensorflow/tfjs-core';
import { keptShape, mask, normAxes } from './util.js';

type T = tf.Tensor;

/** `dy` of a reduction over `axes`, broadcast back to the input's shape. */
function spread(dy: T, x: T, axes: number[]): T {
  return tf.broadcastTo(tf.reshape(dy, keptShape(x.shape, axes)), x.shape.slice());
}

/** Max/Min: the gradient flows to the entries equal to the extremum (recomputed from x). */
function extremum(kernelName: 'Max' | 'Min', axisAttr: string): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const axes = normAxes(attrs[axisAttr] as number | number[], x!.rank);
      const y = kernelName === 'Max' ? tf.max(x!, axes, true) : tf.min(x!, axes, true);
      return { x: () => tf.mul(spread(dy as T, x!, axes), mask(tf.equal(x!, y))) };
    },
  };
}

export const reductionGradients: tf.GradConfig[] = [
  {
    kernelName: 'Sum',
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => ({ x: () => spread(dy as T, x!, normAxes(attrs.axis as number[], x!.rank)) }),
  },
  {
    kernelName: 'Mean',
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const axes = normAxes(attrs.axis as number[], x!.rank);
      const count = axes.reduce((n, a) => n * x!.shape[a]!, 1);
      return { x: () => tf.div(spread(dy as T, x!, axes), count) };
    },
  },
  extremum('Max', 'reductionIndices'),
  extremum('Min', 'axis'),
  {
    kernelName: 'Cumsum',
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const axis = normAxes(attrs.axis as number, x!.rank)[0]!;
      return { x: () => tf.cumsum(dy as T, axis, attrs.exclusive as boolean, !(attrs.reverse as boolean)) };
    },
  },
  {
    // softmax' dy = (dy - sum(dy * y)) * y, with y recomputed from the logits.
    kernelName: 'Softmax',
    inputsToSave: ['logits'],
    gradFunc: (dy, [logits], attrs) => {
      const dim = normAxes(attrs.dim as number, logits!.rank)[0]!;
      const y = tf.softmax(logits!, dim);
      return { logits: () => tf.mul(tf.sub(dy as T, tf.sum(tf.mul(dy as T, y), dim, true)), y) };
    },
  },
];
