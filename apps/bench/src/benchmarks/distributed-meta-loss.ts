/**
 * Distributed meta-training reaches the meta-loss of single-process meta-training on
 * the image MLP: LearnableAdam meta-trained by PES (Part 5's estimator: truncations of
 * 10 steps of ImageMLP_FashionMnist8_Relu32) with outer Adam, for 30 outer steps. The
 * single-process runs use 8 problems per step, with seeds 0, 1, 2 (their spread is the
 * noise); the distributed run uses 2 worker processes of 4 problems each and 2 estimates
 * per step, so both see 8 problems per step. The meta-loss of a theta is the mean
 * training loss of LearnableAdam with it over 150 steps on 4 fixed initialisations
 * (the same batches for every theta). The goal: the distributed meta-loss lies within
 * the single-process runs' range widened by their spread on each side, and both
 * improve on the untrained theta.
 */
import type { ChildProcess } from 'node:child_process';
import { DistributedLearner, findRedisServer, REDIS_INSTALL_HINT, startRedisServer } from '@lopt/distributed';
import {
  disposeExcept,
  GradientLearner,
  metaTrain,
  SingleMachineGradientLearner,
  trainingCurves,
} from '@lopt/outer-trainers';
import { random } from '@lopt/pytree';
import { imageMlp, type Task } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';
import type { ComparisonCase } from '../harness.js';
import { META_LOSS_RUN, metaLossLopt, metaLossOuterOptimizer, pesEstimators } from '../peers/distributed-setup.js';
import { startBenchWorker } from '../peers/distributed-spawn.js';

const EVAL_STEPS = 150;
const EVAL_PROBLEMS = 4;
const SEEDS = [0, 1, 2];

/** Mean training loss of LearnableAdam with `theta` over EVAL_STEPS steps on EVAL_PROBLEMS fixed initialisations. */
async function metaLoss(task: Task, theta: unknown): Promise<number> {
  let total = 0;
  for (let p = 0; p < EVAL_PROBLEMS; p++) {
    // optFn makes tensors of theta's hyperparameters that only a scope frees.
    tf.engine().startScope();
    try {
      const curves = await trainingCurves(task, metaLossLopt().optFn(theta), {
        numSteps: EVAL_STEPS,
        key: random.PRNGKey(1000 + p),
        evalEvery: EVAL_STEPS,
        evalBatches: 1,
        lastEvalBatches: 1,
        splits: ['train'],
      });
      total += curves.trainLoss.reduce((a, b) => a + b, 0) / curves.trainLoss.length;
    } finally {
      tf.engine().endScope();
    }
  }
  return total / EVAL_PROBLEMS;
}

const config = (mode: string) => ({ ...META_LOSS_RUN, mode });

async function singleProcess(task: Task, seed: number): Promise<number> {
  const lopt = metaLossLopt();
  const learner = new SingleMachineGradientLearner(
    lopt,
    await pesEstimators(lopt, 2 * META_LOSS_RUN.tasksPerWorker),
    metaLossOuterOptimizer(),
    { numSteps: META_LOSS_RUN.steps },
  );
  const { state } = await metaTrain({ learner, seed, numSteps: META_LOSS_RUN.steps, config: config('single') });
  try {
    return await metaLoss(task, learner.getMetaParams(state));
  } finally {
    disposeExcept(state);
  }
}

async function distributed(task: Task): Promise<number> {
  const redis = await startRedisServer();
  const workers: ChildProcess[] = [];
  try {
    workers.push(
      ...(await Promise.all(
        [1, 2].map((seed) => startBenchWorker(redis.url, 'bench-meta-loss', seed, { kind: 'meta-loss' })),
      )),
    );
    const learner = new DistributedLearner({
      connection: redis.url,
      run: 'bench-meta-loss',
      learner: new GradientLearner(metaLossLopt(), metaLossOuterOptimizer(), { numSteps: META_LOSS_RUN.steps }),
      seed: 0,
      numSteps: META_LOSS_RUN.steps,
      config: config('distributed'),
      estimatesPerStep: 2,
    });
    try {
      await learner.run();
      return await metaLoss(task, learner.getMetaParams());
    } finally {
      await learner.close();
    }
  } finally {
    for (const w of workers) w.kill('SIGTERM');
    await redis.stop();
  }
}

const fmt = (x: number) => x.toFixed(3);

const distributedMetaLoss: ComparisonCase = {
  name: 'distributed meta-loss, image MLP (LearnableAdam, PES)',
  goal: 'within the 1-process seeds range +- their spread',
  async compare() {
    if (findRedisServer() === undefined) throw new Error(`skip: redis-server is not installed (${REDIS_INSTALL_HINT})`);
    const task = await imageMlp.ImageMLP_FashionMnist8_Relu32();
    const untrained = await (async () => {
      const theta = metaLossLopt().init(random.PRNGKey(0));
      try {
        return await metaLoss(task, theta);
      } finally {
        disposeExcept(theta);
      }
    })();
    const single: number[] = [];
    for (const seed of SEEDS) single.push(await singleProcess(task, seed));
    const dist = await distributed(task);
    const lo = Math.min(...single);
    const hi = Math.max(...single);
    const spread = hi - lo;
    const met = dist >= lo - spread && dist <= hi + spread && hi < untrained && dist < untrained;
    return {
      lopt: `${fmt(dist)} (2 workers)`,
      peer: `${single.map(fmt).join(' / ')} (1 process, seeds ${SEEDS.join(', ')})`,
      met,
      note: `untrained theta ${fmt(untrained)}; ${META_LOSS_RUN.steps} outer steps of 8 problems`,
    };
  },
};

export default distributedMetaLoss;
