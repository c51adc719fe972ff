import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, cliEnv, ensureBuilt, lopt, PKG, pngSize, tmp } from './helpers';

beforeAll(() => ensureBuilt());

/**
 * `lopt ...` commands of a text: continuation lines joined, trailing `# comments` dropped.
 * Examples that name another machine (a Redis URL whose host is not loopback) are not run:
 * this test never reaches beyond the machine. The learner and worker roles are run on
 * loopback by meta-train-distributed.test.ts.
 */
function commandsIn(text: string): string[] {
  return text
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l.startsWith('lopt '))
    .filter((l) => !/redis:\/\/(?!127\.0\.0\.1|localhost|\[::1\])/.test(l));
}

function readmeCommands(): string[] {
  const readme = readFileSync(join(PKG, 'README.md'), 'utf8');
  return [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => commandsIn(m[1]!));
}

function helpCommands(): string[] {
  const helps = ['', 'demo', 'train', 'meta-train', 'eval', 'plot', 'tasks', 'optimizers'].map(
    (c) => (c ? lopt(c, '--help') : lopt('--help')).stdout,
  );
  return helps.flatMap((h) => {
    const at = h.search(/\nExamples?:\n/);
    return at < 0 ? [] : commandsIn(h.slice(at));
  });
}

// Runs `command` (a line of the README or of --help) in `cwd` as a user types it.
function run(cwd: string, command: string): { code: number | null; stdout: string; stderr: string } {
  // Words as a POSIX shell splits them here: single-quoted arguments (JSON options) are one word.
  const args = [...command.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!).slice(1);
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, env: cliEnv(), encoding: 'utf8', timeout: 590_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const num = (s: string) => Number(s);

/** Checks that the output of `command` is a sensible result, not just exit code 0. */
function checkResult(cwd: string, command: string, out: string): void {
  if (command.startsWith('lopt demo part1')) {
    const m = /final meta-loss\s+([\d.]+) \(mean of the last \d+; first \d+: ([\d.]+)\)/.exec(out)!;
    expect(m, out).not.toBeNull();
    expect(num(m[1]!)).toBeLessThan(num(m[2]!)); // the meta-loss fell
    const lr = /learned learning rate\s+([\d.e-]+) \(from 0\.001/.exec(out)!;
    expect(num(lr[1]!)).toBeGreaterThan(1.5e-3); // and the learning rate rose
    const plot = /plots\s+(\S+\.svg), (\S+\.png)/.exec(out)!;
    pngSize(plot[2]!);
  } else if (command === 'lopt tasks') {
    expect(out).toContain('ImageMLP_FashionMnist8_Relu32');
    expect(out).toContain('FixedDimQuadraticFamily');
  } else if (command === 'lopt optimizers') {
    expect(out).toMatch(/│ Adam\s+│ hand-designed/);
    expect(out).toMatch(/│ LearnableAdam\s+│ learned/);
  } else if (command.startsWith('lopt train --task ImageMLP_FashionMnist8_Relu32')) {
    const m = /final train loss ([\d.e-]+), test loss ([\d.e-]+) after 500 steps/.exec(out)!;
    expect(m, out).not.toBeNull();
    expect(num(m[2]!)).toBeLessThan(1); // from ln 10 = 2.3: learnt on real Fashion-MNIST
    if (command.includes('--out')) pngSize(join(cwd, 'runs/adam/train-loss.png'));
  } else if (command.startsWith('lopt meta-train') && command.includes('--workers')) {
    const m = /done: (\d+) outer steps.*last meta-loss ([\d.e+-]+)/.exec(out)!;
    expect(m, out).not.toBeNull();
    expect(num(m[1]!)).toBe(30);
    expect(existsSync(join(cwd, 'runs/q/theta.json'))).toBe(true);
  } else if (command.startsWith('lopt meta-train --recipe')) {
    // A few outer steps of the shipped recipe, stopped early with a checkpoint to resume.
    expect(out).toMatch(/done: 2 outer steps/);
    const ckpt = JSON.parse(readFileSync(join(cwd, 'runs/adafac/checkpoint.json'), 'utf8')) as {
      outerIteration: number;
    };
    expect(ckpt.outerIteration).toBe(2);
    expect(existsSync(join(cwd, 'runs/adafac/theta.json'))).toBe(true);
  } else if (command.startsWith('lopt meta-train --distribution')) {
    expect(out).toMatch(/done: 2 outer steps/);
    expect(out).toMatch(/estimator 0: family ImageMLPFamily_/);
  } else if (command.startsWith('lopt meta-train')) {
    expect(out).toMatch(/done: \d+ outer steps/);
    expect(existsSync(join(cwd, 'runs/la-quad/theta.json'))).toBe(true);
  } else if (command.startsWith('lopt plot')) {
    pngSize(join(cwd, 'runs/la-quad/meta-loss.png'));
    pngSize(join(cwd, 'runs/la-quad/theta.png'));
  } else if (command.startsWith('lopt eval --lopt Celo2')) {
    // Celo2 and Adam at 1e-3 scored against the best Adam of the grid on real data.
    const res = JSON.parse(readFileSync(join(cwd, 'runs/celo2-eval/eval.json'), 'utf8')) as {
      seeds: number[];
      bestAdamLearningRate: number;
      rows: { optimizer: string; finalTestLoss: number; score: { test: number } }[];
    };
    expect(res.seeds).toEqual([0, 1]);
    const best = res.rows.find((r) => r.optimizer === `Adam(${res.bestAdamLearningRate})`)!;
    expect(best.score.test).toBe(1);
    expect(best.finalTestLoss).toBeLessThan(1.5); // from ln 10 = 2.3
    expect(out).toContain('best of Adam grid');
    pngSize(join(cwd, 'runs/celo2-eval/eval-test.png'));
  } else if (command.startsWith('lopt eval')) {
    const dir = /wrote eval\.json, .* in (\S+)$/m.exec(out)![1]!;
    const res = JSON.parse(readFileSync(join(cwd, dir, 'eval.json'), 'utf8')) as {
      rows: { optimizer: string; finalTrainLoss: number }[];
    };
    const [learned, ...baselines] = res.rows;
    expect(learned!.optimizer).toMatch(/^LearnableAdam/);
    // The meta-trained optimizer beats every baseline on its evaluation.
    for (const b of baselines)
      expect(learned!.finalTrainLoss, `${learned!.optimizer} vs ${b.optimizer}`).toBeLessThan(b.finalTrainLoss);
    expect(learned!.finalTrainLoss).toBeLessThan(1e-3);
  } else if (command.startsWith('lopt train --task QuadraticTask --theta')) {
    const m = /final train loss ([\d.e-]+), test loss ([\d.e-]+) after 100 steps/.exec(out)!;
    expect(num(m[1]!)).toBeLessThan(1e-6);
  } else {
    throw new Error(`no result check for the example '${command}'`);
  }
}

describe('every example of the README and of --help runs as written and gives a sensible result', () => {
  const cwd = tmp('lopt-examples-');
  // The examples run from the repository root, whose recipes/ folder they name.
  cpSync(join(PKG, '..', '..', 'recipes'), join(cwd, 'recipes'), { recursive: true });
  const done = new Set<string>();
  const runAll = (commands: string[]) => {
    for (const command of commands) {
      if (done.has(command)) continue;
      done.add(command);
      const r = run(cwd, command);
      expect(r.code, `${command}\n${r.stderr}`).toBe(0);
      checkResult(cwd, command, r.stdout);
    }
  };

  it('the README, in order', { timeout: 900_000 }, () => {
    const commands = readmeCommands();
    expect(commands.length).toBeGreaterThanOrEqual(10);
    runAll(commands);
  });

  it('--help of every command (after the README, whose runs they reuse)', { timeout: 600_000 }, () => {
    const commands = helpCommands();
    expect(commands.length).toBeGreaterThanOrEqual(8);
    runAll(commands);
  });
});
