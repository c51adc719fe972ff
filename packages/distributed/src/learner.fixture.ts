// A learner process for the fault tests: meta-trains the shared quadratic run with a
// checkpoint after every outer step, printing `step <n>` as it goes.
// Usage: node --import tsx --conditions=@lopt/source learner.fixture.ts <redis-url> <run> <ckpt> <metrics> <numSteps> <mode> <N>
import { fileCheckpointStore, jsonLinesAppender } from '@lopt/outer-trainers/node';
import { setupBackend } from '@lopt/pytree';
import { DistributedLearner } from './distributed-learner.js';
import type { DistributedMode } from './protocol.js';
import { quadConfig, quadLearner } from './test-run.js';

const [url, run, ckpt, metrics, numSteps, mode, n] = process.argv.slice(2);
await setupBackend(process.env.LOPT_BACKEND || 'wasm');
const learner = new DistributedLearner({
  connection: url!,
  run: run!,
  learner: quadLearner(Number(numSteps)),
  seed: 1,
  numSteps: Number(numSteps),
  config: quadConfig,
  mode: mode as DistributedMode,
  estimatesPerStep: Number(n),
  staleness: 2,
  store: fileCheckpointStore(ckpt!),
  checkpointEvery: 1,
  onMetricsLine: jsonLinesAppender(metrics!),
  onStep: (step) => process.stdout.write(`step ${step + 1}\n`),
  learnerLockMs: 3000,
  healIntervalMs: 500,
});
await learner.start();
process.stdout.write(`started at ${learner.outerIteration}\n`);
const out = await learner.run();
process.stdout.write(`done ${JSON.stringify(out.totals)}\n`);
await learner.close();
process.exit(0);
