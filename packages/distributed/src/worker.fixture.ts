// A worker process for the fault tests: estimates for the shared quadratic run, each
// announced on stdout (`estimating <version>`) and slowed by <delayMs>.
// Usage: node --import tsx --conditions=@lopt/source worker.fixture.ts <redis-url> <run> <seed> <delayMs> <lockMs>
import { setupBackend } from '@lopt/pytree';
import { DistributedWorker } from './distributed-worker.js';
import { quadEstimators } from './test-run.js';

const [url, run, seed, delayMs, lockMs] = process.argv.slice(2);
await setupBackend(process.env.LOPT_BACKEND || 'wasm');
const worker = new DistributedWorker({
  connection: url!,
  run: run!,
  gradientEstimators: quadEstimators({ announce: true, delayMs: Number(delayMs) }),
  seed: Number(seed),
  lockDurationMs: Number(lockMs),
  stalledIntervalMs: Math.max(250, Number(lockMs) / 4),
  onEstimate: (e) => process.stdout.write(`sent ${e.version}\n`),
});
process.stdout.write('ready\n');
const summary = await worker.run();
process.stdout.write(`worker done ${JSON.stringify(summary)}\n`);
process.exit(0);
