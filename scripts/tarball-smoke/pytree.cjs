// @lopt/pytree from its tarball: a gradient and a second derivative of a small pytree
// function against their closed forms, and JAX's first split of PRNGKey(0).
module.exports = async function smoke({ tf, pytree }, check) {
  const x0 = 0.3;
  const params = { a: tf.scalar(x0), b: [tf.tensor([1, 2])] };
  // f(p) = sum(tanh(a) * b^2); df/da = (1 - tanh^2 a) sum(b^2); d2f/da2 = -2 tanh(a) (1 - tanh^2 a) sum(b^2)
  const f = (p) => tf.sum(tf.mul(tf.tanh(p.a), tf.square(p.b[0])));
  const g = pytree.grad(f)(params);
  const t = Math.tanh(x0);
  check('df/da', g.a.dataSync()[0], (1 - t * t) * 5);
  check('df/db[1]', g.b[0].dataSync()[1], 2 * t * 2);
  const h = pytree.grad((a) => pytree.grad(f)({ a, b: params.b }).a)(params.a);
  check('d2f/da2', h.dataSync()[0], -2 * t * (1 - t * t) * 5);
  const [k1] = pytree.random.split(pytree.random.PRNGKey(0));
  check('split(PRNGKey(0))[0][0]', k1[0], 4146024105);
};
