import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { WORKER_NODE_FLAGS } from './worker-node-flags.js';

describe('WORKER_NODE_FLAGS', () => {
  it('are flags this Node accepts, and reach the process they start', () => {
    // An unknown or misspelt flag makes node refuse to start ("bad option").
    const r = spawnSync(
      process.execPath,
      [...WORKER_NODE_FLAGS, '-e', 'process.stdout.write(process.execArgv.join(" "))'],
      {
        encoding: 'utf8',
      },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.split(' ')).toEqual([...WORKER_NODE_FLAGS]);
  });
});
