// The gradient of a function of a pytree (nested objects and arrays of tensors).
import { setupBackend, valueAndGrad } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';

await setupBackend();
// f(p) = sum((w + b)^2), so df/dw = 2(w + b) and df/db = sum(2(w + b)).
const f = (p: { w: tf.Tensor; b: tf.Scalar }) => tf.sum(tf.square(tf.add(p.w, p.b))) as tf.Scalar;
const params = { w: tf.tensor1d([1, 2, 3]), b: tf.scalar(0.5) };
const [value, grads] = valueAndGrad(f)(params);
console.log('value:', value.dataSync()[0]);
console.log('grads.w:', Array.from(grads.w.dataSync()));
console.log('grads.b:', grads.b.dataSync()[0]);
