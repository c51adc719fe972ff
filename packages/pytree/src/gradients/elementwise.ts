import * as tf from '@tensorflow/tfjs-core';
import { mask, unbroadcast, zeroGrads } from './util.js';

type T = tf.Tensor;

/** A unary op whose gradient is `dy * d(x)`, with `d` written in differentiable ops. */
function unary(kernelName: string, d: (x: T, attrs: tf.NamedAttrMap) => T): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => ({ x: () => tf.mul(dy as T, d(x!, attrs)) }),
  };
}

/** A broadcasting binary op with partials `da`, `db` (each multiplied by `dy` inside). */
function binary(kernelName: string, da: (dy: T, a: T, b: T) => T, db: (dy: T, a: T, b: T) => T): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, [a, b]) => ({
      a: () => unbroadcast(da(dy as T, a!, b!), a!.shape),
      b: () => unbroadcast(db(dy as T, a!, b!), b!.shape),
    }),
  };
}

const SQRT_PI_2 = 2 / Math.sqrt(Math.PI);

export const elementwiseGradients: tf.GradConfig[] = [
  { kernelName: 'Identity', gradFunc: (dy) => ({ x: () => tf.clone(dy as T) }) },
  { kernelName: 'Neg', gradFunc: (dy) => ({ x: () => tf.neg(dy as T) }) },
  unary('Abs', (x) => tf.sub(mask(tf.greater(x, 0)), mask(tf.less(x, 0)))),
  unary('Square', (x) => tf.mul(x, 2)),
  // d sqrt(x) = 1 / (2 sqrt(x)); written from x so the second derivative exists.
  unary('Sqrt', (x) => tf.div(0.5, tf.sqrt(x))),
  unary('Rsqrt', (x) => tf.div(tf.mul(tf.rsqrt(x), -0.5), x)),
  unary('Exp', (x) => tf.exp(x)),
  unary('Expm1', (x) => tf.exp(x)),
  unary('Log', (x) => tf.reciprocal(x)),
  unary('Log1p', (x) => tf.reciprocal(tf.add(x, 1))),
  unary('Reciprocal', (x) => tf.neg(tf.reciprocal(tf.square(x)))),
  unary('Tanh', (x) => tf.sub(1, tf.square(tf.tanh(x)))),
  unary('Sigmoid', (x) => {
    const s = tf.sigmoid(x);
    return tf.mul(s, tf.sub(1, s));
  }),
  unary('Softplus', (x) => tf.sigmoid(x)),
  unary('Relu', (x) => mask(tf.greater(x, 0))),
  unary('Relu6', (x) => mask(tf.logicalAnd(tf.greater(x, 0), tf.less(x, 6)))),
  unary('Elu', (x) => tf.where(tf.greater(x, 0), tf.onesLike(x), tf.exp(x))),
  unary('Selu', (x) => {
    const scale = 1.0507009873554805;
    const alpha = 1.6732632423543772;
    return tf.where(tf.greater(x, 0), tf.fill(x.shape, scale), tf.mul(tf.exp(x), scale * alpha));
  }),
  unary('LeakyRelu', (x, attrs) => tf.where(tf.greater(x, 0), tf.onesLike(x), tf.fill(x.shape, attrs.alpha as number))),
  unary('Erf', (x) => tf.mul(tf.exp(tf.neg(tf.square(x))), SQRT_PI_2)),
  unary('Sin', (x) => tf.cos(x)),
  unary('Cos', (x) => tf.neg(tf.sin(x))),
  unary('Atan', (x) => tf.reciprocal(tf.add(tf.square(x), 1))),
  unary('ClipByValue', (x, attrs) =>
    mask(
      tf.logicalAnd(tf.greaterEqual(x, attrs.clipValueMin as number), tf.lessEqual(x, attrs.clipValueMax as number)),
    ),
  ),
  {
    kernelName: 'Cast',
    inputsToSave: ['x'],
    gradFunc: (dy, [x]) => ({
      x: () => (x!.dtype === 'float32' ? tf.clone(dy as T) : tf.zeros(x!.shape)),
    }),
  },
  binary(
    'Add',
    (dy) => dy,
    (dy) => dy,
  ),
  binary(
    'Sub',
    (dy) => dy,
    (dy) => tf.neg(dy),
  ),
  binary(
    'Multiply',
    (dy, _a, b) => tf.mul(dy, b),
    (dy, a) => tf.mul(dy, a),
  ),
  binary(
    'RealDiv',
    (dy, _a, b) => tf.div(dy, b),
    (dy, a, b) => tf.neg(tf.div(tf.mul(dy, a), tf.square(b))),
  ),
  binary(
    'Pow',
    (dy, a, b) => tf.mul(dy, tf.mul(b, tf.pow(a, tf.sub(b, 1)))),
    (dy, a, b) => {
      // d a^b / db = a^b log a, taken as 0 where a <= 0 (as TensorFlow does).
      const pos = tf.greater(a, 0);
      const logA = tf.where(pos, tf.log(tf.where(pos, a, tf.onesLike(a))), tf.zerosLike(a));
      return tf.mul(dy, tf.mul(tf.pow(a, b), logA));
    },
  ),
  binary(
    'SquaredDifference',
    (dy, a, b) => tf.mul(dy, tf.mul(tf.sub(a, b), 2)),
    (dy, a, b) => tf.mul(dy, tf.mul(tf.sub(b, a), 2)),
  ),
  binary(
    'Maximum',
    (dy, a, b) => tf.mul(dy, mask(tf.greaterEqual(a, b))),
    (dy, a, b) => tf.mul(dy, mask(tf.less(a, b))),
  ),
  binary(
    'Minimum',
    (dy, a, b) => tf.mul(dy, mask(tf.lessEqual(a, b))),
    (dy, a, b) => tf.mul(dy, mask(tf.greater(a, b))),
  ),
  {
    kernelName: 'Select',
    inputsToSave: ['condition'],
    gradFunc: (dy, [c]) => ({
      condition: () => tf.zeros(c!.shape),
      t: () => tf.where(c!, dy as T, tf.zerosLike(dy as T)),
      e: () => tf.where(c!, tf.zerosLike(dy as T), dy as T),
    }),
  },
  {
    kernelName: 'AddN',
    saveAllInputs: true,
    gradFunc: (dy, saved) => {
      const out: Record<string, () => T> = {};
      saved.forEach((_, i) => {
        out[i] = () => tf.clone(dy as T);
      });
      return out;
    },
  },
  // Piecewise-constant ops: zero gradients, registered so that a path through them
  // (a mask, a sign) does not stop a higher-order gradient.
  ...['Sign', 'Floor', 'Ceil', 'Round', 'IsNan', 'IsInf', 'IsFinite', 'LogicalNot', 'ZerosLike', 'OnesLike'].map((k) =>
    zeroGrads(k, ['x']),
  ),
  zeroGrads('Step', ['x']),
  ...['Equal', 'NotEqual', 'Greater', 'GreaterEqual', 'Less', 'LessEqual', 'LogicalAnd', 'LogicalOr', 'FloorDiv'].map(
    (k) => zeroGrads(k, ['a', 'b']),
  ),
];
