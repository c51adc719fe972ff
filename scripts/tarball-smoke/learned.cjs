// @lopt/learned from its tarball: LearnableAdam's meta-gradient through a 3-step unroll
// on a quadratic asks for a larger learning rate (d metaLoss / d logLr < 0).
module.exports = async function smoke({ tf, pytree, learned }, check) {
  const lopt = new learned.LearnableAdam();
  const theta = lopt.init(pytree.random.PRNGKey(0));
  check('initial logLr', theta.logLr.dataSync()[0], Math.log(1e-3));
  const target = tf.tensor1d([1, -2, 3]);
  const loss = (p) => tf.sum(tf.square(tf.sub(p.x, target)));
  const metaLoss = (th) => {
    const opt = lopt.optFn(th);
    let s = opt.init({ x: tf.zeros([3]) });
    for (let i = 0; i < 3; i++) {
      const [l, g] = pytree.valueAndGrad(loss)(opt.getParams(s));
      s = opt.update(s, g, { loss: l });
    }
    return loss(opt.getParams(s));
  };
  const [ml, g] = pytree.valueAndGrad(metaLoss)(theta);
  check('meta-loss finite', Number.isFinite(ml.dataSync()[0]) ? 1 : 0, 1);
  check('d metaLoss / d logLr < 0', g.logLr.dataSync()[0] < 0 ? 1 : 0, 1);
};
