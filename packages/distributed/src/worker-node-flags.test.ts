import { spawnSync } from 'node:child_process';
import { expect, test } from 'vitest';
import { WORKER_NODE_FLAGS, workerNodeFlags } from './worker-node-flags.js';

test('workers that take every core get the flags; fewer workers get none', () => {
  expect(workerNodeFlags(2, 2)).toEqual([...WORKER_NODE_FLAGS]);
  expect(workerNodeFlags(3, 2)).toEqual([...WORKER_NODE_FLAGS]);
  expect(workerNodeFlags(1, 2)).toEqual([]);
  expect(() => workerNodeFlags(0, 2)).toThrow(/positive integer/);
});

test('this Node starts with the flags', () => {
  // An unknown or misspelt flag makes node refuse to start, which would take every worker down.
  const r = spawnSync(process.execPath, [...WORKER_NODE_FLAGS, '-e', 'console.log("started")'], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout.trim()).toBe('started');
  const bad = spawnSync(process.execPath, ['--single-threaded-gcc', '-e', '0'], { encoding: 'utf8' });
  expect(bad.status).not.toBe(0);
});
