// A process of the distributed benchmark's 2-process ceiling: the very job a bench
// worker does per estimate (decode theta, `gradientWorkerCompute` of the speed
// benchmark's estimator, encode the estimate), with no Redis and no learner. It reads
// `run <count>` lines on stdin, computes that many estimates, and answers
// `done <wall ms> <cpu ms>`. Usage: node --import tsx src/peers/distributed-ceiling.ts <seed>
import { createInterface } from 'node:readline';
import { decodeTree, disposeExcept, encodeTree, gradientWorkerCompute, type WorkerWeights } from '@lopt/outer-trainers';
import { random, setupBackend } from '@lopt/pytree';
import { distributedBenchEstimators, distributedBenchLearner } from './distributed-setup.js';

const seed = Number(process.argv[2] ?? 0);
await setupBackend(process.env.LOPT_BACKEND || 'wasm');
const estimators = await distributedBenchEstimators();
// The learner's initial theta (seed 0, as the distributed run starts from), as a request carries it.
const learner = distributedBenchLearner();
const state = learner.init(random.split(random.PRNGKey(0))[0]!);
const thetaPayload = encodeTree(learner.getMetaParams(state));
disposeExcept(state);
const initKey = random.PRNGKey(seed);
let unrollStates: unknown[] | undefined;
let count = 0;

function estimate(): void {
  const theta = decodeTree(thetaPayload);
  const ww: WorkerWeights<unknown> = { theta, thetaModelState: undefined, outerState: { outerIteration: 0 } };
  try {
    if (!unrollStates) {
      const keys = random.split(initKey, estimators.length);
      unrollStates = estimators.map((e, i) => e.initWorkerState(ww, keys[i]!));
    }
    const out = gradientWorkerCompute(ww, estimators, unrollStates, random.foldIn(initKey, count++));
    disposeExcept(unrollStates, out.unrollStates);
    unrollStates = out.unrollStates;
    // Encoded as a result is sent; the text itself is not needed.
    encodeTree(out.toPut.thetaGrads);
    disposeExcept(out.toPut.thetaGrads, unrollStates);
  } finally {
    disposeExcept(theta, unrollStates);
  }
}

process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  const m = /^run (\d+)$/.exec(line.trim());
  if (!m) continue;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < Number(m[1]); i++) estimate();
  const c = process.cpuUsage(c0);
  process.stdout.write(`done ${performance.now() - t0} ${(c.user + c.system) / 1000}\n`);
}
process.exit(0);
