/**
 * @packageDocumentation
 * Meta-training across processes and machines, after learned_optimization's
 * learner/worker split, on BullMQ queues and a Redis server: a `DistributedLearner`
 * holds theta, the outer optimizer and the checkpoint; `DistributedWorker`s hold their
 * inner problems and send gradient estimates tagged with the theta version they used.
 * Node only.
 */
export {
  DistributedLearner,
  type DistributedLearnerOptions,
  type DistributedRunResult,
  type DistributedTotals,
} from './distributed-learner.js';
export {
  DistributedWorker,
  type DistributedWorkerOptions,
  type DistributedWorkerSummary,
} from './distributed-worker.js';
export {
  type DistributedMode,
  type EstimateRequest,
  type EstimateResult,
  type LearnerHead,
  type RunKeys,
  runKeys,
  type ThetaRecord,
} from './protocol.js';
export {
  describeRedis,
  parseRedisUrl,
  type ReconnectingRedisOptions,
  type RedisConnection,
  redisOptions,
} from './redis-connection.js';
export {
  findRedisServer,
  freePort,
  type LocalRedisServer,
  REDIS_INSTALL_HINT,
  type StartRedisServerOptions,
  startRedisServer,
} from './redis-server.js';
export { WORKER_NODE_FLAGS } from './worker-node-flags.js';
