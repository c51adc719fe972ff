import { test } from 'vitest';
import { runReadmeExample } from '../../../scripts/readme-example';
import { requireRedisServer } from './test-redis.js';

test('the README example runs (with a real redis-server)', async () => {
  requireRedisServer();
  await runReadmeExample(new URL('../README.md', import.meta.url));
});
