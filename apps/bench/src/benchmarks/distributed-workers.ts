/**
 * Distributed meta-training (`@lopt/distributed`): outer steps of a sync learner taking
 * 2 estimates per step, served by 2 worker processes against 1 worker process, on a
 * redis-server started on loopback. Each estimate is Part 5's PES step (MLPLOpt, 4
 * problems of ImageMLP_FashionMnist8_Relu32, truncation length 10). On a machine with
 * 2 free cores the goal is at least 1.7x the outer steps per second, a time ratio of
 * at most 0.59; on a loaded machine the ratio is noisy.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DistributedLearner, findRedisServer, REDIS_INSTALL_HINT, startRedisServer } from '@lopt/distributed';
import type { RatioCase } from '../harness.js';
import { distributedBenchLearner } from '../peers/distributed-setup.js';

const here = dirname(fileURLToPath(import.meta.url));
const STEPS_PER_CALL = 2;

function startWorker(url: string, run: string, seed: number): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      import.meta.resolve('tsx'),
      join(here, '..', 'peers', 'distributed-worker.ts'),
      url,
      run,
      String(seed),
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => {
      if (b.toString().includes('ready')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`a benchmark worker exited (code ${code}) before it was ready`)));
  });
}

const distributedWorkers: RatioCase = {
  name: 'distributed outer steps, 2 workers vs 1',
  goal: '<= 0.59x (>= 1.7x steps/s)',
  goalRatio: 1 / 1.7,
  peerName: '1 worker',
  itersPerBlock: 3,
  blocks: 5,
  async setup() {
    if (findRedisServer() === undefined) throw new Error(`skip: redis-server is not installed (${REDIS_INSTALL_HINT})`);
    const redis = await startRedisServer();
    const workers: ChildProcess[] = [];
    const learners: DistributedLearner[] = [];
    try {
      workers.push(
        ...(await Promise.all([
          startWorker(redis.url, 'bench-two', 1),
          startWorker(redis.url, 'bench-two', 2),
          startWorker(redis.url, 'bench-one', 3),
        ])),
      );
      for (const run of ['bench-two', 'bench-one']) {
        const learner = new DistributedLearner({
          connection: redis.url,
          run,
          learner: distributedBenchLearner(),
          seed: 0,
          numSteps: 1_000_000,
          config: { run },
          estimatesPerStep: 2,
        });
        await learner.start();
        learners.push(learner);
      }
    } catch (e) {
      for (const w of workers) w.kill('SIGKILL');
      await redis.stop();
      throw e;
    }
    const [two, one] = learners as [DistributedLearner, DistributedLearner];
    const steps = async (l: DistributedLearner) => {
      for (let i = 0; i < STEPS_PER_CALL; i++) await l.outerStep();
    };
    return {
      lopt: () => steps(two),
      peer: () => steps(one),
      dispose: () => {
        void (async () => {
          for (const l of learners) {
            await l.finish();
            await l.close();
          }
          for (const w of workers) w.kill('SIGTERM');
          await redis.stop();
        })();
      },
    };
  },
};

export default distributedWorkers;
