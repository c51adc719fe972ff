// @lopt/optimizers from its tarball: Adam's first step moves each parameter by -lr.
module.exports = async function smoke({ tf, optimizers }, check) {
  const opt = new optimizers.Adam(1e-4);
  const state = opt.init({ a: tf.zeros([2]) });
  const next = opt.update(state, { a: tf.ones([2]) }, { loss: tf.scalar(10) });
  check('Adam step', opt.getParams(next).a.dataSync()[0], -1e-4);
};
