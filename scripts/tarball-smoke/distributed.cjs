// @lopt/distributed from its tarball: a learner and a worker in one process, on a
// redis-server started on loopback, run two sync outer steps of PES with LearnableSGD on
// a quadratic; theta moves and both estimates are applied. Needs redis-server installed.
module.exports = async function smoke({ pytree, tasks, optimizers, learned, outerTrainers: ot, distributed }, check) {
  const redis = await distributed.startRedisServer();
  try {
    const lopt = new learned.LearnableSGD();
    const family = ot.singleTaskToFamily(new tasks.QuadraticTask(4));
    const step = new ot.VectorizedLOptTruncatedStep(family, lopt, new ot.ConstantTruncationSchedule(20), 2);
    const pes = new ot.TruncatedPES(step, { truncLength: 10 });
    const learner = new distributed.DistributedLearner({
      connection: redis.url,
      run: 'smoke',
      learner: new ot.GradientLearner(lopt, new optimizers.Adam(1e-1)),
      seed: 0,
      numSteps: 2,
      config: { smoke: true },
    });
    const worker = new distributed.DistributedWorker({
      connection: redis.url,
      run: 'smoke',
      gradientEstimators: [pes],
      seed: 1,
    });
    const working = worker.run();
    await learner.start();
    const before = learner.getMetaParams().logLr.dataSync()[0];
    const out = await learner.run();
    await working;
    const after = learner.getMetaParams().logLr.dataSync()[0];
    await learner.close();
    check('estimates applied', out.totals.applied, 2);
    check('outer losses finite', out.losses.every(Number.isFinite) ? 1 : 0, 1);
    check('theta moved', after !== before ? 1 : 0, 1);
    void pytree;
  } finally {
    await redis.stop();
  }
};
