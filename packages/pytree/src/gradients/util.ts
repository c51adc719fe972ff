import * as tf from '@tensorflow/tfjs-core';

/**
 * Sums `dy` over the axes along which an input of `shape` was broadcast, then reshapes.
 * Always a new tensor: tfjs accumulates (and disposes) each input's gradient separately,
 * so one tensor must never serve as the gradient of two inputs.
 */
export function unbroadcast(dy: tf.Tensor, shape: readonly number[]): tf.Tensor {
  if (dy.shape.length === shape.length && dy.shape.every((d, i) => d === shape[i]))
    return tf.reshape(dy, shape.slice());
  const lead = dy.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < dy.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && dy.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length ? tf.sum(dy, axes) : dy;
  return tf.reshape(summed, shape.slice());
}

/** A float32 0/1 mask from a boolean tensor (its gradient is zero). */
export function mask(b: tf.Tensor): tf.Tensor {
  return tf.cast(b, 'float32');
}

/** Normalises an axis argument (number, list, negative) against a rank. */
export function normAxes(axis: number | number[] | undefined | null, rank: number): number[] {
  if (axis === undefined || axis === null) return Array.from({ length: rank }, (_, i) => i);
  const list = Array.isArray(axis) ? axis : [axis];
  return list.map((a) => (a < 0 ? a + rank : a));
}

/** The shape of `x` with the reduced `axes` kept as size 1. */
export function keptShape(shape: readonly number[], axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/** A zero gradient for every named input: for ops whose output is piecewise constant. */
export function zeroGrads(kernelName: string, inputNames: readonly string[]): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: inputNames.slice(),
    gradFunc: (_dy, saved) => {
      const out: Record<string, () => tf.Tensor> = {};
      inputNames.forEach((n, i) => {
        out[n] = () => tf.zeros(saved[i]!.shape);
      });
      return out;
    },
  };
}

/** Runs a kernel by name, so gradients of gradients go through our registry. */
export function runKernel(name: string, inputs: Record<string, tf.Tensor>, attrs: object = {}): tf.Tensor {
  return tf.engine().runKernel(name, inputs as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as tf.Tensor;
}

/** True when the active backend implements the kernel `name`. */
export function hasKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}
