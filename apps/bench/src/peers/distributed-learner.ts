// The learner process of the distributed speed benchmark: a `DistributedLearner` of
// the speed benchmark's learned optimizer in a process of its own, as
// `lopt meta-train --role learner` runs one, so the bench process's own heap and work do
// not share its cores' time. It reads `run <steps>` lines on stdin, runs that many outer
// steps and answers `done <wall ms> <cpu ms> <estimates dropped as stale so far>`;
// `finish` marks the run done (its workers stop), closes and answers `finished`.
// Usage: node --import tsx src/peers/distributed-learner.ts <redis-url> <run> <estimates per step> [sync|async]
import { createInterface } from 'node:readline';
import { DistributedLearner } from '@lopt/distributed';
import { setupBackend } from '@lopt/pytree';
import { distributedBenchLearner } from './distributed-setup.js';

const [url, run, perStep, mode = 'sync'] = process.argv.slice(2);
if (mode !== 'sync' && mode !== 'async') throw new Error(`mode must be sync or async, got ${mode}`);
await setupBackend(process.env.LOPT_BACKEND || 'wasm');
const learner = new DistributedLearner({
  connection: url!,
  run: run!,
  learner: distributedBenchLearner(),
  seed: 0,
  numSteps: 1_000_000,
  config: { run },
  estimatesPerStep: Number(perStep),
  mode,
});
await learner.start();
process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  const m = /^run (\d+)$/.exec(line.trim());
  if (m) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < Number(m[1]); i++) await learner.outerStep();
    const c = process.cpuUsage(c0);
    process.stdout.write(
      `done ${performance.now() - t0} ${(c.user + c.system) / 1000} ${learner.totals.staleDropped}\n`,
    );
  } else if (line.trim() === 'finish') {
    await learner.finish();
    await learner.close();
    process.stdout.write('finished\n');
    break;
  }
}
process.exit(0);
