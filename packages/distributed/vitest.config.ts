import { packageTestConfig } from '../../vitest.shared';

// Killing and restarting workers, the learner and Redis tests processes and queues, not the
// backend: once, on wasm. The meta-loss comparison runs in every leg.
export default packageTestConfig([], ['src/distributed-faults.test.ts']);
