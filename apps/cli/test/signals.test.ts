import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, cliEnv, ensureBuilt, exited, jsonLines, lopt$, pngSize, svgSize, tmp, waitFor } from './helpers';

beforeAll(() => ensureBuilt());

const LINE_WRAP_OFF = '\x1b[?7l';
const LINE_WRAP_ON = '\x1b[?7h';

const LOG_EVERY = 50;

describe('SIGINT and SIGTERM: finish the step, write what --out promises, say so, exit 130', () => {
  it('train', async () => {
    const dir = tmp();
    const child = lopt$(
      'train',
      '--task',
      'ImageMLP_FashionMnist8_Relu32',
      '--optimizer',
      'SGD',
      '--lr',
      '0.1',
      '--steps',
      '1e9',
      '--log-every',
      String(LOG_EVERY),
      '--out',
      dir,
    );
    // Interrupted once a logged step past step 0 shows training ran, whatever the machine's load.
    await waitFor(() => new RegExp(`step ${LOG_EVERY}: train loss`).test(child.out()));
    child.kill('SIGINT');
    const { code } = await exited(child);
    expect(code, child.err()).toBe(130);
    const m =
      /interrupted \(SIGINT\) after (\d+) of 1000000000 steps: final train loss [\d.]+, test loss [\d.]+ after \d+ steps \(.*\); wrote train\.jsonl, train-loss\.svg and train-loss\.png in /.exec(
        child.out(),
      );
    expect(m, child.out()).not.toBeNull();
    const steps = Number(m![1]);
    expect(steps).toBeGreaterThan(LOG_EVERY + 1);
    // The log holds every --log-every step and the last step run, with its test loss; the plot is drawn.
    const log = jsonLines(readFileSync(join(dir, 'train.jsonl'), 'utf8'));
    const logged = Array.from({ length: Math.ceil((steps - 1) / LOG_EVERY) }, (_, i) => i * LOG_EVERY);
    expect(log.map((r) => r.step)).toEqual([...logged, steps - 1]);
    expect(log.at(-1)!.testLoss as number).toBeLessThan(log[0]!.testLoss as number);
    const svg = svgSize(join(dir, 'train-loss.svg'));
    expect(pngSize(join(dir, 'train-loss.png'))).toEqual({ width: svg.width, height: svg.height });
    expect(existsSync(join(dir, '.lopt.lock'))).toBe(false);
  });

  it('eval', async () => {
    const run = tmp();
    const mt = spawnSync(
      process.execPath,
      [
        CLI,
        '-q',
        'meta-train',
        '--lopt',
        'LearnableAdam',
        '--task',
        'QuadraticTask',
        '--tasks',
        '1',
        '--inner-steps',
        '5',
        '--trunc-length',
        '5',
        '--outer-steps',
        '1',
        '--out',
        run,
      ],
      { env: cliEnv(), encoding: 'utf8' },
    );
    expect(mt.status, mt.stderr).toBe(0);
    const dir = tmp();
    const child = lopt$(
      '--json',
      'eval',
      '--theta',
      join(run, 'theta.json'),
      '--task',
      'ImageMLP_FashionMnist8_Relu32',
      '--steps',
      '1e9',
      '--out',
      dir,
    );
    await waitFor(() => existsSync(join(dir, '.lopt.lock')));
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGTERM');
    const { code } = await exited(child);
    expect(code, child.err()).toBe(130);
    const done = jsonLines(child.out()).pop()!;
    expect(done).toMatchObject({ event: 'interrupted' });
    const res = JSON.parse(readFileSync(join(dir, 'eval.json'), 'utf8')) as {
      interrupted: boolean;
      rows: { steps: number }[];
    };
    expect(res.interrupted).toBe(true);
    expect(res.rows).toHaveLength(1); // the learned optimizer, stopped; the baseline never started
    expect(res.rows[0]!.steps).toBeGreaterThan(0);
    pngSize(join(dir, 'eval-loss.png'));
  });

  it('demo part1', async () => {
    const dir = tmp();
    const child = lopt$('demo', 'part1', '--meta-iterations', '100000', '--sgd-steps', '0', '--out', dir);
    await waitFor(() => /meta-iteration 0:/.test(child.out()));
    await new Promise((r) => setTimeout(r, 500));
    child.kill('SIGINT');
    const { code } = await exited(child);
    expect(code, child.err()).toBe(130);
    expect(child.out()).toMatch(/Summary \(interrupted by SIGINT after \d+ of 100000 meta-iterations\)/);
    const lines = jsonLines(readFileSync(join(dir, 'part1.jsonl'), 'utf8'));
    expect(lines.length).toBeGreaterThan(1);
    expect(child.out()).toContain(`${lines.length} meta-iterations`);
    for (const f of ['meta-loss.png', 'learning-rate.png']) pngSize(join(dir, f));
  });
});

// A Ctrl-C typed on a terminal: the command runs on a pseudo-terminal (util-linux `script`),
// so its progress bars are drawn and the terminal's line discipline turns ^C into SIGINT.
const hasScript = spawnSync('script', ['--version']).status === 0;

function onTerminal(args: string[], afterMs: number): Promise<{ code: number | null; out: string }> {
  const quoted = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qefc', quoted, '/dev/null'], {
    env: { ...cliEnv(), COLUMNS: '120', LINES: '40' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  return new Promise((resolve) => {
    const typed = setInterval(() => {
      // Typed once the first bar is drawn, then some steps later.
      if (out.includes(LINE_WRAP_OFF)) {
        clearInterval(typed);
        setTimeout(() => child.stdin.write('\x03'), afterMs);
      }
    }, 50);
    child.on('exit', (code) => {
      clearInterval(typed);
      resolve({ code, out });
    });
  });
}

describe.skipIf(!hasScript)('Ctrl-C on a terminal gives the terminal back', () => {
  it.each([
    ['train', ['train', '--task', 'QuadraticTask', '--optimizer', 'SGD', '--steps', '1e9']],
    ['demo', ['demo', 'part1', '--meta-iterations', '100000', '--sgd-steps', '1000']],
  ])('%s: the progress bar ends, line wrap is on again, the result is printed, exit 130', async (_name, args) => {
    const dir = tmp();
    const { code, out } = await onTerminal([...args, '--out', dir], 800);
    expect(code, out).toBe(130);
    // Every "line wrap off" of the progress bars is followed by "line wrap on".
    expect(out.lastIndexOf(LINE_WRAP_OFF)).toBeGreaterThan(-1);
    expect(out.lastIndexOf(LINE_WRAP_ON)).toBeGreaterThan(out.lastIndexOf(LINE_WRAP_OFF));
    expect(out).toMatch(/interrupted|Summary \(interrupted/);
    expect(out).toContain(dir);
  });
});
