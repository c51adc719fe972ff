// A meta-training process for the resume test: trains with checkpoints after every
// outer step, printing `step <n>` as it goes, optionally slowed so it can be killed mid-run.
// Usage: node --import tsx --conditions=@lopt/source meta-train-child.fixture.ts <ckpt> <metrics> <numSteps> <delayMs>
import { setupBackend } from '@lopt/pytree';
import { metaTrain } from './meta-train.js';
import { fileCheckpointStore, jsonLinesAppender } from './node.js';
import { resumeTestConfig, resumeTestLearner } from './resume-fixture.js';

const [ckpt, metrics, numSteps, delayMs] = process.argv.slice(2);
// The backend of the test that starts it, so the resume is checked on every leg's backend.
await setupBackend(process.env.LOPT_BACKEND || 'wasm');
const sleeper = new Int32Array(new SharedArrayBuffer(4));
await metaTrain({
  learner: resumeTestLearner(),
  seed: resumeTestConfig.seed,
  numSteps: Number(numSteps),
  config: resumeTestConfig,
  store: fileCheckpointStore(ckpt!),
  checkpointEvery: 1,
  onMetricsLine: jsonLinesAppender(metrics!),
  onStep: (step) => {
    process.stdout.write(`step ${step + 1}\n`);
    Atomics.wait(sleeper, 0, 0, Number(delayMs));
  },
});
process.stdout.write('finished\n');
