// Tests need a real redis-server; without one they fail with what to install.
import { findRedisServer, REDIS_INSTALL_HINT } from './redis-server.js';

/** Throws a clear error when `redis-server` is not installed. */
export function requireRedisServer(): void {
  if (findRedisServer() === undefined) {
    throw new Error(`these tests start a real redis-server, which is not installed: ${REDIS_INSTALL_HINT}`);
  }
}
