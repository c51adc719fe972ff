import * as tf from '@tensorflow/tfjs-core';

/**
 * `console.log` of a pytree shows tensor values, as JAX arrays print theirs, instead of
 * tfjs's internal fields: Node's inspector uses this hook (browsers ignore it). Small
 * tensors print in full, large ones by shape and their first values.
 */
const INSPECT = Symbol.for('nodejs.util.inspect.custom');
const MAX_VALUES = 10;

/** A short description of a tensor with its (first) values, as `console.log` shows it. */
export function describeTensor(t: tf.Tensor): string {
  if (t.isDisposed) return `Tensor(disposed, shape=[${t.shape.join(', ')}], ${t.dtype})`;
  const values = Array.from(t.dataSync() as ArrayLike<number>).slice(0, MAX_VALUES);
  // float32 values with the 7 significant digits float32 holds (1.1, not 1.100000023841858).
  const fmt = (v: number) =>
    t.dtype === 'bool' ? String(Boolean(v)) : t.dtype === 'float32' ? String(Number(v.toPrecision(7))) : String(v);
  const shown = values.map(fmt).join(', ');
  if (t.rank === 0) return `Tensor(${shown}, ${t.dtype})`;
  const more = t.size > MAX_VALUES ? `, ... ${t.size - MAX_VALUES} more` : '';
  return `Tensor([${shown}${more}], shape=[${t.shape.join(', ')}], ${t.dtype})`;
}

if (!Object.hasOwn(tf.Tensor.prototype, INSPECT)) {
  Object.defineProperty(tf.Tensor.prototype, INSPECT, {
    value(this: tf.Tensor) {
      return describeTensor(this);
    },
    configurable: true,
  });
}
