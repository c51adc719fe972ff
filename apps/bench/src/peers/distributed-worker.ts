// A worker process of the distributed benchmark: Part 5's PES estimator (MLPLOpt,
// 4 problems of ImageMLP_FashionMnist8_Relu32, truncations of 10 steps).
// Usage: node --import tsx src/peers/distributed-worker.ts <redis-url> <run> <seed>
import { DistributedWorker } from '@lopt/distributed';
import { setupBackend } from '@lopt/pytree';
import { distributedBenchEstimators } from './distributed-setup.js';

const [url, run, seed] = process.argv.slice(2);
await setupBackend(process.env.LOPT_BACKEND || 'wasm');
const worker = new DistributedWorker({
  connection: url!,
  run: run!,
  gradientEstimators: await distributedBenchEstimators(),
  seed: Number(seed),
});
process.stdout.write('ready\n');
await worker.run();
process.exit(0);
