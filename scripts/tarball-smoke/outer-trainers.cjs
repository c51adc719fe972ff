// @lopt/outer-trainers from its tarball: two outer steps of PES with LearnableSGD on a
// quadratic give finite losses and move theta.
module.exports = async function smoke({ pytree, tasks, optimizers, learned, outerTrainers: ot }, check) {
  const lopt = new learned.LearnableSGD();
  const family = ot.singleTaskToFamily(new tasks.QuadraticTask(4));
  const step = new ot.VectorizedLOptTruncatedStep(family, lopt, new ot.ConstantTruncationSchedule(20), 2);
  const pes = new ot.TruncatedPES(step, { truncLength: 10 });
  const learner = new ot.SingleMachineGradientLearner(lopt, [pes], new optimizers.Adam(1e-1));
  let state = learner.init(pytree.random.PRNGKey(0));
  const before = learner.getMetaParams(state).logLr.dataSync()[0];
  for (let i = 0; i < 2; i++) {
    const out = learner.update(state, pytree.random.PRNGKey(i + 1));
    state = out.state;
    check('outer loss finite', Number.isFinite(out.loss) ? 1 : 0, 1);
  }
  const after = learner.getMetaParams(state).logLr.dataSync()[0];
  check('theta moved', after !== before ? 1 : 0, 1);
};
