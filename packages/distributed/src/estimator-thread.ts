// The body of a `ThreadedGradientEstimator` worker thread: it builds its shard's
// estimator from the module spec, then answers init/estimate requests. Replies go on the
// port it was given; after each one it bumps the shared counter and wakes the caller,
// which waits on it with `Atomics.wait`.
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import type { GradientEstimator } from '@lopt/outer-trainers';
import { disposeExcept, type WorkerWeights } from '@lopt/outer-trainers';
import { type PRNGKey, setFastPathsEnabled, setupBackend } from '@lopt/pytree';
import { type EstimatorModuleSpec, loadEstimator } from './estimator-module.js';
import type { ThreadReply, ThreadRequest } from './thread-protocol.js';
import { packTree, unpackTree } from './thread-tree.js';

interface ThreadData {
  spec: EstimatorModuleSpec;
  shard: number;
  numShards: number;
  backend: string;
  fastPaths: boolean;
  signal: SharedArrayBuffer;
  port: MessagePort;
}

const data = workerData as ThreadData;
const flags = new Int32Array(data.signal);
const port = data.port;

function reply(msg: ThreadReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
  Atomics.add(flags, 0, 1);
  Atomics.notify(flags, 0);
}

function errorReply(id: number, e: unknown): void {
  const err = e as Error;
  reply({ id, ok: false, error: err?.stack ?? String(e) });
}

// An error outside a request, or the thread ending, must still wake a waiting caller.
process.on('uncaughtException', (e) => {
  errorReply(-1, e);
  process.exit(1);
});
process.on('exit', () => {
  Atomics.store(flags, 1, 1);
  Atomics.notify(flags, 0);
});

let estimator: GradientEstimator | undefined;

function handle(req: ThreadRequest): void {
  if (!estimator) throw new Error('the estimator is not built');
  const theta = unpackTree(req.theta);
  const ww: WorkerWeights = { theta, thetaModelState: undefined, outerState: req.outerState };
  const key = Uint32Array.from(req.key) as PRNGKey;
  const transfer: ArrayBuffer[] = [];
  if (req.kind === 'init') {
    const state = estimator.initWorkerState(ww, key);
    try {
      reply({ id: req.id, ok: true, state: packTree(state, transfer) }, transfer);
    } finally {
      disposeExcept([theta, state]);
    }
    return;
  }
  const state = unpackTree(req.state);
  const start = performance.now();
  let out: ReturnType<GradientEstimator['computeGradientEstimate']> | undefined;
  try {
    out = estimator.computeGradientEstimate(ww, key, state, { withSummary: req.withSummary });
    const [est, metrics] = out;
    const computeSeconds = (performance.now() - start) / 1000;
    reply(
      {
        id: req.id,
        ok: true,
        meanLoss: est.meanLoss,
        grad: packTree(est.grad, transfer),
        state: packTree(est.unrollState, transfer),
        unrollInfo: est.unrollInfo,
        metrics,
        computeSeconds,
      },
      transfer,
    );
  } finally {
    disposeExcept([theta, state, out?.[0].grad, out?.[0].unrollState]);
  }
}

// No top-level await: the build also emits this file as CommonJS.
async function build(): Promise<void> {
  await setupBackend(data.backend as never);
  setFastPathsEnabled(data.fastPaths);
  estimator = await loadEstimator(data.spec, { shard: data.shard, numShards: data.numShards });
}

build().then(
  () => {
    reply({ id: 0, ok: true });
    parentPort!.on('message', (req: ThreadRequest) => {
      try {
        handle(req);
      } catch (e) {
        errorReply(req.id, e);
      }
    });
  },
  (e) => errorReply(0, e),
);
