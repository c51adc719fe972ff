import { LearnableSGD } from '@lopt/learned';
import {
  decodeTree,
  disposeExcept,
  encodeTree,
  type GradientEstimator,
  SingleMachineGradientLearner,
  type WorkerWeights,
} from '@lopt/outer-trainers';
import { random, treeLeaves } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, test } from 'vitest';
import { loadEstimator } from './estimator-module.js';
import { quadOuterOptimizer } from './test-run.js';
import { ThreadedGradientEstimator } from './threaded-estimator.js';

const fixture = new URL('./threaded.fixture.ts', import.meta.url).href;
const spec = (args: Record<string, unknown>) => ({ module: fixture, exportName: 'quadPes', args });
const created: ThreadedGradientEstimator[] = [];
afterAll(async () => {
  await Promise.all(created.map((e) => e.dispose()));
});

async function make(
  args: Record<string, unknown>,
  shards: number,
  extra: { localShard?: boolean; timeoutMs?: number } = {},
) {
  const est = await ThreadedGradientEstimator.create({ estimator: spec(args), shards, ...extra });
  created.push(est);
  return est;
}

function values(tree: unknown): number[][] {
  return treeLeaves(tree as never).map((t: unknown) =>
    t instanceof tf.Tensor ? Array.from(t.dataSync()) : typeof t === 'number' ? [t] : Array.from(t as Uint32Array),
  );
}

function expectClose(a: unknown, b: unknown): void {
  const va = values(a);
  const vb = values(b);
  expect(va.length).toBe(vb.length);
  va.forEach((x, i) => {
    expect(x.length).toBe(vb[i]!.length);
    x.forEach((v, j) => expect(v).toBeCloseTo(vb[i]![j]!, 5));
  });
}

describe('ThreadedGradientEstimator', () => {
  test.each([
    ['shard 0 here, 2 threads', true],
    ['every shard in a thread', false],
  ])('over 3 shards equals the same shards computed in-process with the same keys (%s)', async (_, localShard) => {
    const shards = 3;
    const before = tf.memory().numTensors;
    const lopt = new LearnableSGD();
    const theta = lopt.init(random.PRNGKey(0));
    const ww: WorkerWeights = { theta, thetaModelState: undefined, outerState: { outerIteration: 0 } };
    const threaded = await make({ tasks: 2 }, shards, { localShard });
    expect(threaded.numShards).toBe(shards);
    expect(threaded.name).toBe('TruncatedPES');
    const refs: GradientEstimator[] = [];
    for (let s = 0; s < shards; s++)
      refs.push(await loadEstimator(spec({ tasks: 2 }), { shard: s, numShards: shards }));

    const initKey = random.PRNGKey(1);
    let state = threaded.initWorkerState(ww, initKey);
    let refStates = random.split(initKey, shards).map((k, s) => refs[s]!.initWorkerState(ww, k));
    expectClose(state, refStates);
    for (let step = 0; step < 2; step++) {
      const key = random.PRNGKey(10 + step);
      const [out, metrics] = threaded.computeGradientEstimate(ww, key, state);
      const refOuts = random.split(key, shards).map((k, s) => refs[s]!.computeGradientEstimate(ww, k, refStates[s])[0]);
      const refGrad = tf.tidy(() =>
        treeLeaves(refOuts[0]!.grad as never).map((_, i) =>
          tf.div(tf.addN(refOuts.map((o) => treeLeaves(o.grad as never)[i] as tf.Tensor)), shards),
        ),
      );
      expectClose(out.grad, refGrad);
      expect(out.meanLoss).toBeCloseTo(refOuts.reduce((a, o) => a + o.meanLoss, 0) / shards, 5);
      expectClose(
        out.unrollState,
        refOuts.map((o) => o.unrollState),
      );
      expect(metrics.threadWaitSeconds).toBeGreaterThanOrEqual(0);
      // The new state's tensors live on this thread, as the caller's data.
      const tensors = treeLeaves(out.unrollState as never).filter(
        (t: unknown) => t instanceof tf.Tensor,
      ) as tf.Tensor[];
      expect(tensors.length).toBeGreaterThan(0);
      for (const t of tensors) expect(t.isDisposed).toBe(false);
      disposeExcept([state, refStates, refGrad, out.grad, refOuts.map((o) => o.grad)]);
      state = out.unrollState;
      refStates = refOuts.map((o) => o.unrollState);
    }
    disposeExcept([state, refStates, theta]);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('drives SingleMachineGradientLearner unchanged, leak-free, and resumes exactly from its encoded state', async () => {
    const threaded = await make({ tasks: 2 }, 2);
    const learner = new SingleMachineGradientLearner(new LearnableSGD() as never, [threaded], quadOuterOptimizer());
    const before = tf.memory().numTensors;
    let state = learner.init(random.PRNGKey(0));
    const losses: number[] = [];
    let afterFirst = 0;
    for (let i = 0; i < 4; i++) {
      const up = learner.update(state, random.PRNGKey(i + 1));
      state = up.state;
      losses.push(up.loss);
      // The first step separates the initial states PES shares between its pos/neg sides.
      if (i === 0) afterFirst = tf.memory().numTensors;
      else expect(tf.memory().numTensors).toBe(afterFirst);
    }
    expect(losses.every(Number.isFinite)).toBe(true);
    // The state is data: a copy through the checkpoint encoding resumes exactly.
    const copy = decodeTree(encodeTree(state)) as typeof state;
    const a = learner.update(state, random.PRNGKey(9));
    const b = learner.update(copy, random.PRNGKey(9));
    expect(b.loss).toBe(a.loss);
    expectClose(learner.getMetaParams(b.state), learner.getMetaParams(a.state));
    expectClose(b.state.gradientEstimatorStates, a.state.gradientEstimatorStates);
    disposeExcept([a.state, b.state]);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('an error in a thread surfaces in the caller, and the estimator refuses further estimates', async () => {
    await expect(make({ tasks: 1, fail: 'build' }, 2)).rejects.toThrow(
      /shard 1 could not build.*shard build failed on purpose/s,
    );

    const before = tf.memory().numTensors;
    const est = await make({ tasks: 1, fail: 'estimate' }, 2);
    const theta = new LearnableSGD().init(random.PRNGKey(0));
    const ww: WorkerWeights = { theta, thetaModelState: undefined, outerState: { outerIteration: 0 } };
    const state = est.initWorkerState(ww, random.PRNGKey(1));
    expect(() => est.computeGradientEstimate(ww, random.PRNGKey(2), state)).toThrow(
      /shard 1: its thread threw: Error: shard estimate failed on purpose/,
    );
    expect(() => est.computeGradientEstimate(ww, random.PRNGKey(2), state)).toThrow(/shard 1's thread failed earlier/);
    expect(() => est.computeGradientEstimate(ww, random.PRNGKey(2), [state[0]])).toThrow(
      /one state per shard \(2\), got 1/,
    );
    disposeExcept([state, theta]);
    expect(tf.memory().numTensors).toBe(before);
  });

  test.each([
    ['exit', /shard 1: its thread exited/],
    ['hang', /shard 1: no answer within 1500 ms/],
  ])('a thread that %s mid-estimate is an error, not a hang', async (fail, message) => {
    const est = await make({ tasks: 1, fail }, 2, { timeoutMs: 1500 });
    const theta = new LearnableSGD().init(random.PRNGKey(0));
    const ww: WorkerWeights = { theta, thetaModelState: undefined, outerState: { outerIteration: 0 } };
    const state = est.initWorkerState(ww, random.PRNGKey(1));
    expect(() => est.computeGradientEstimate(ww, random.PRNGKey(2), state)).toThrow(message);
    disposeExcept([state, theta]);
    await est.dispose();
  });

  test('dispose ends the threads', async () => {
    const est = await make({ tasks: 1 }, 3, { localShard: false });
    expect(est.threadIds.every((id) => id > 0)).toBe(true);
    expect(est.threadIds).toHaveLength(3);
    await est.dispose();
    expect(est.threadIds).toEqual([-1, -1, -1]);
    const theta = new LearnableSGD().init(random.PRNGKey(0));
    const ww: WorkerWeights = { theta, thetaModelState: undefined, outerState: { outerIteration: 0 } };
    expect(() => est.initWorkerState(ww, random.PRNGKey(1))).toThrow(/used after dispose/);
    disposeExcept(theta);
  });

  test('bad options are clear errors', async () => {
    await expect(ThreadedGradientEstimator.create({ estimator: spec({ tasks: 1 }), shards: 0 })).rejects.toThrow(
      /shards must be an integer >= 1, got 0/,
    );
    await expect(
      ThreadedGradientEstimator.create({ estimator: { ...spec({ tasks: 1 }), exportName: 'nope' }, shards: 1 }),
    ).rejects.toThrow(/export 'nope' is not a function/);
  });
});
