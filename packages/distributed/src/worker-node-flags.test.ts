import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WORKER_NODE_FLAGS } from './worker-node-flags.js';

describe('WORKER_NODE_FLAGS', () => {
  it('are flags this Node accepts, and reach the process they start', () => {
    // A script file rather than -e, whose code would join the flags in execArgv.
    const script = join(mkdtempSync(join(tmpdir(), 'lopt-flags-')), 'argv.cjs');
    writeFileSync(script, 'process.stdout.write(JSON.stringify(process.execArgv));\n');
    // An unknown or misspelt flag makes node refuse to start ("bad option").
    const r = spawnSync(process.execPath, [...WORKER_NODE_FLAGS, script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([...WORKER_NODE_FLAGS]);
  });
});
