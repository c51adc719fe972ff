import type { RedisOptions } from 'ioredis';

/** Where the Redis server is: a `redis://` URL or ioredis options. */
export type RedisConnection = string | RedisOptions;

/** ioredis options with a reconnection strategy, as `redisOptions` gives them (accepted by ioredis and BullMQ alike). */
export type ReconnectingRedisOptions = Omit<RedisOptions, 'retryStrategy'> & {
  retryStrategy: (times: number) => number;
};

/**
 * ioredis options for a `redis://[user:password@]host[:port][/db]` URL (or `rediss://`
 * for TLS), set up for long-running queues: commands wait for a reconnection instead of
 * failing (`maxRetriesPerRequest: null`, which BullMQ's workers require), and the client
 * reconnects forever with a backoff capped at `maxBackoffMs`, so a restarted Redis
 * server is picked up again by learners and workers alike.
 */
export function redisOptions(connection: RedisConnection, maxBackoffMs = 1000): ReconnectingRedisOptions {
  const base: RedisOptions = typeof connection === 'string' ? parseRedisUrl(connection) : { ...connection };
  return {
    ...base,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    retryStrategy: (times: number) => Math.min(50 * times, maxBackoffMs),
  };
}

/** Host, port, database and credentials of a `redis://` URL; a malformed URL is an error saying what is expected. */
export function parseRedisUrl(url: string): RedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`'${url}' is not a Redis URL; expected redis://host:port (for example redis://127.0.0.1:6379)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new Error(
      `'${url}' is not a Redis URL (scheme ${u.protocol}); expected redis://host:port or rediss://host:port`,
    );
  }
  const port = u.port === '' ? 6379 : Number(u.port);
  const db = u.pathname && u.pathname !== '/' ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0)
    throw new Error(`'${url}': the database '${u.pathname.slice(1)}' is not a non-negative integer`);
  const opts: RedisOptions = { host: u.hostname || '127.0.0.1', port, db };
  if (u.username) opts.username = decodeURIComponent(u.username);
  if (u.password) opts.password = decodeURIComponent(u.password);
  if (u.protocol === 'rediss:') opts.tls = {};
  return opts;
}

/** The `redis://host:port/db` form of a connection, without credentials (for logs and messages). */
export function describeRedis(connection: RedisConnection): string {
  const o = typeof connection === 'string' ? parseRedisUrl(connection) : connection;
  return `redis://${o.host ?? '127.0.0.1'}:${o.port ?? 6379}${o.db ? `/${o.db}` : ''}`;
}
