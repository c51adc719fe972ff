// A worker process of the distributed benchmarks: Part 5's PES estimator on
// ImageMLP_FashionMnist8_Relu32 (truncations of 10 steps), with MLPLOpt over 4 problems
// (`speed`, the default) or the meta-loss benchmark's LearnableAdam (`meta-loss`).
// Usage: node --import tsx src/peers/distributed-worker.ts <redis-url> <run> <seed> [speed|meta-loss]
import { DistributedWorker } from '@lopt/distributed';
import { setupBackend } from '@lopt/pytree';
import { distributedBenchEstimators, META_LOSS_RUN, metaLossLopt, pesEstimators } from './distributed-setup.js';

const [url, run, seed, kind = 'speed'] = process.argv.slice(2);
await setupBackend(process.env.LOPT_BACKEND || 'wasm');
const worker = new DistributedWorker({
  connection: url!,
  run: run!,
  gradientEstimators:
    kind === 'meta-loss'
      ? await pesEstimators(metaLossLopt(), META_LOSS_RUN.tasksPerWorker)
      : await distributedBenchEstimators(),
  seed: Number(seed),
});
process.stdout.write('ready\n');
await worker.run();
process.exit(0);
