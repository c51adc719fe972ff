// Shared checks for the tarball smoke test: given the loaded modules, compute a gradient
// and a second derivative of a small pytree function and compare with the closed forms.
module.exports = async function checks(tf, lopt, label) {
  const { pytree } = lopt;
  const backend = await pytree.setupBackend();
  const x0 = 0.3;
  const params = { a: tf.scalar(x0), b: [tf.tensor([1, 2])] };
  // f(p) = sum(tanh(a) * b^2) ; df/da = (1 - tanh^2 a) * sum(b^2)
  const f = (p) => tf.sum(tf.mul(tf.tanh(p.a), tf.square(p.b[0])));
  const g = pytree.grad(f)(params);
  const t = Math.tanh(x0);
  const expect = (name, got, want) => {
    if (!(Math.abs(got - want) <= 1e-4 * Math.max(1, Math.abs(want)))) {
      throw new Error(`${label}: ${name} = ${got}, expected ${want}`);
    }
  };
  expect('df/da', g.a.dataSync()[0], (1 - t * t) * 5);
  expect('df/db[1]', g.b[0].dataSync()[1], 2 * t * 2);
  // d2f/da2 = -2 tanh(a) (1 - tanh^2 a) * sum(b^2)
  const dfa = (a) => pytree.grad(f)({ a, b: params.b }).a;
  const h = pytree.grad(dfa)(params.a);
  expect('d2f/da2', h.dataSync()[0], -2 * t * (1 - t * t) * 5);
  const [k1] = pytree.random.split(pytree.random.PRNGKey(0));
  if (k1[0] !== 4146024105) throw new Error(`${label}: PRNG key mismatch`);
  if (lopt.extra) await lopt.extra(tf, label);
  console.log(`${label}: ok on ${backend}`);
};
