import * as tf from '@tensorflow/tfjs-core';

/**
 * Orthogonalises the matrices in the last two axes of `x` by `iters` Newton–Schulz
 * iterations with coefficients `[a, b, c]`: `X <- a X + (b A + c A A) X` with `A = X Xᵀ`
 * on the wide orientation, starting from `X / (‖X‖_F + 1e-8)`. With Muon's coefficients
 * (3.4445, −4.7750, 2.0315) five iterations bring every singular value near 1 without
 * computing an SVD. Leading axes are a batch of matrices.
 *
 * The products run on the tall orientation `Y = Xᵀ` (`Y <- a Y + Y (b A + c A A)`, with
 * `A = Yᵀ Y` and the polynomial symmetric): the same arithmetic, the Gram matrix on the
 * smaller side, and only untransposed products, which on wasm are several times faster
 * than transposed ones or a small matrix times a wide one.
 */
export function newtonSchulz(x: tf.Tensor, coeffs: readonly [number, number, number], iters: number): tf.Tensor {
  if (x.rank < 2) throw new Error(`newtonSchulz: needs at least 2 axes, got shape [${x.shape.join(', ')}]`);
  return tf.tidy(() => {
    const shape = x.shape;
    const m = shape[shape.length - 2]!;
    const n = shape[shape.length - 1]!;
    const batch = shape.slice(0, -2).reduce((a, b) => a * b, 1);
    // Plain 2D matmuls for a matrix (batched ones are much slower on wasm).
    const flat = x.rank === 2;
    const t = (z: tf.Tensor) => (flat ? tf.transpose(z) : tf.transpose(z, [0, 2, 1]));
    const y0: tf.Tensor = flat ? x : tf.reshape(x, [batch, m, n]);
    const tall = m > n;
    // y is tall (rows >= columns).
    let y = tall ? y0 : t(y0);
    const norm = tf.sqrt(tf.sum(tf.square(y), [y.rank - 2, y.rank - 1], true));
    y = tf.div(y, tf.add(norm, 1e-8));
    const [a, b, c] = coeffs;
    for (let i = 0; i < iters; i++) {
      const gram = tf.matMul(t(y) as tf.Tensor3D, y as tf.Tensor3D);
      const poly = tf.add(tf.mul(gram, b), tf.mul(tf.matMul(gram, gram), c));
      y = tf.add(tf.mul(y, a), tf.matMul(y as tf.Tensor3D, poly as tf.Tensor3D));
    }
    return tf.reshape(tall ? y : t(y), shape);
  });
}
