import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeTaskDistribution, listTaskDistributions } from '@lopt/tasks';
import { beforeAll, describe, expect, it } from 'vitest';
import { quickMetaTrain } from './fixtures';
import {
  cliEnv,
  ensureBuilt,
  exited,
  expectOneLineError,
  jsonLines,
  jsonLinesSoFar,
  lopt,
  lopt$,
  loptWithEnv,
  pngSize,
  svgSize,
  tmp,
  waitFor,
} from './helpers';

beforeAll(() => ensureBuilt());

const QUICK = quickMetaTrain();

function checkpointStep(dir: string): number {
  return (JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')) as { outerIteration: number }).outerIteration;
}

function metricSteps(dir: string): number[] {
  return jsonLines(readFileSync(join(dir, 'metrics.jsonl'), 'utf8')).map((r) => r.step as number);
}

describe('help and listings', () => {
  it('--help of every command lists its options and the global flags', () => {
    const expected: Record<string, string[]> = {
      demo: ['<part>', '--meta-iterations', '--sgd-steps', '--unroll', '--outer-lr', '--out', '--force', 'SIGINT'],
      train: [
        '--task',
        '--optimizer',
        '--lr',
        '--lopt',
        '--theta',
        '--steps',
        '--log-every',
        '--out',
        '--force',
        'SIGINT',
      ],
      'meta-train': [
        '--lopt',
        '--task',
        '--estimator',
        '--outer-steps',
        '--tasks',
        '--out',
        '--resume',
        '--force',
        '--inner-steps',
        '--trunc-length',
        '--std',
        '--outer-lr',
        '--checkpoint-every',
        '--recipe',
        '--steps',
        '--distribution',
        '--distribution-options',
        '--resample-every',
        'SIGINT',
      ],
      eval: [
        '--lopt',
        '--theta',
        '--task',
        '--steps',
        '--baseline',
        '--lr',
        '--seeds',
        '--adam-grid',
        '--adam-lr',
        '--eval-every',
        '--out',
        '--force',
        'SIGINT',
      ],
      plot: ['<dir>', '--out', '--log-y'],
      tasks: [],
      optimizers: [],
    };
    for (const [cmd, flags] of Object.entries(expected)) {
      const r = lopt(cmd, '--help');
      expect(r.code, cmd).toBe(0);
      for (const f of [...flags, '--backend', '--seed', '--data-dir', '--no-download', '--quiet', '--json'])
        expect(r.stdout, `${cmd} ${f}`).toContain(f);
    }
    const top = lopt('--help');
    for (const cmd of Object.keys(expected)) expect(top.stdout).toContain(cmd);
    for (const e of ['pes', 'es', 'tes', 'tgrad', 'fullgrad', 'unroll'])
      expect(lopt('meta-train', '--help').stdout).toContain(`"${e}"`);
  });

  it('tasks and optimizers list the registered names (as a table, and as JSON)', () => {
    const t = JSON.parse(lopt('tasks', '--json').stdout) as { tasks: { name: string }[]; families: { name: string }[] };
    expect(t.tasks.map((x) => x.name)).toContain('ImageMLP_FashionMnist8_Relu32');
    expect(t.tasks.map((x) => x.name)).toContain('QuadraticTask');
    expect(t.families.map((x) => x.name)).toContain('FixedDimQuadraticFamily');
    // The task distributions are @lopt/tasks' registry, each with its registered description.
    const d = (t as unknown as { distributions: { name: string; description: string }[] }).distributions;
    expect(d.map((x) => x.name)).toEqual(listTaskDistributions());
    expect(d.map((x) => x.name)).toEqual(expect.arrayContaining(['ImageConvDistribution', 'ImageMLPDistribution']));
    for (const x of d) expect(x.description).toBe(describeTaskDistribution(x.name));
    expect(lopt('tasks').stdout).toMatch(/│ ImageMLPDistribution\s+│ distribution\s+│ Fashion-MNIST, MNIST/);
    const o = JSON.parse(lopt('optimizers', '--json').stdout) as {
      optimizers: { name: string }[];
      learnedOptimizers: { name: string }[];
    };
    expect(o.optimizers.map((x) => x.name)).toEqual(expect.arrayContaining(['SGD', 'Adam']));
    expect(o.learnedOptimizers.map((x) => x.name)).toEqual(expect.arrayContaining(['LearnableAdam', 'MLPLOpt']));
    const table = lopt('optimizers');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/│ Adam\s+│ hand-designed │ 0\.01/);
  });
});

describe('train', () => {
  it('trains a quadratic with SGD to near zero, one JSON line per logged step, nothing on stderr', () => {
    const r = lopt(
      '--json',
      'train',
      '--task',
      'QuadraticTask',
      '--optimizer',
      'sgd',
      '--lr',
      '0.1',
      '--steps',
      '60',
      '--log-every',
      '10',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(''); // not a terminal: no progress bar
    const recs = jsonLines(r.stdout);
    const logs = recs.filter((x) => 'trainLoss' in x);
    expect(logs.map((x) => x.step)).toEqual([0, 10, 20, 30, 40, 50, 59]);
    const done = recs[recs.length - 1]!;
    expect(done.event).toBe('done');
    // SGD(0.1) on sum((x - t)^2) contracts the error by 0.8 a step: 60 steps shrink the loss by 0.8^120.
    expect(done.finalTrainLoss as number).toBeLessThan((logs[0]!.trainLoss as number) * 1e-6);
  });

  it('runs on the cpu backend, global flags given after the command, with nothing on stderr', () => {
    const r = lopt(
      'train',
      '--backend',
      'cpu',
      '--seed',
      '3',
      '--task',
      'QuadraticTask',
      '--optimizer',
      'SGD',
      '--steps',
      '2',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('on cpu');
    expect(r.stderr).toBe('');
    // --seed draws other initial parameters.
    expect(
      lopt('train', '--seed', '3', '--task', 'QuadraticTask', '--optimizer', 'SGD', '--steps', '1').stdout,
    ).not.toBe(lopt('train', '--seed', '4', '--task', 'QuadraticTask', '--optimizer', 'SGD', '--steps', '1').stdout);
  });

  it('trains the 8x8 Fashion-MNIST MLP with Adam and writes its log and loss plot', () => {
    const dir = tmp();
    const r = lopt(
      'train',
      '--task',
      'ImageMLP_FashionMnist8_Relu32',
      '--optimizer',
      'Adam',
      '--steps',
      '150',
      '--out',
      dir,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/step 0: train loss 2\.\d+/);
    const log = jsonLines(readFileSync(join(dir, 'train.jsonl'), 'utf8'));
    expect(log[0]!.testLoss as number).toBeGreaterThan(1.9); // about ln 10 at initialisation
    expect(log[log.length - 1]!.testLoss as number).toBeLessThan(1.3); // real data, learnt
    const svg = svgSize(join(dir, 'train-loss.svg'));
    expect(pngSize(join(dir, 'train-loss.png'))).toEqual({ width: svg.width, height: svg.height });
  });

  it('trains with Celo2 and its published theta (no theta file), from --optimizer or --lopt; eval takes it too', () => {
    // Three weight matrices: the middle one takes Celo2's learned rule.
    const r = lopt(
      '--json',
      'train',
      '--task',
      'ImageMLP_FashionMnist_Relu128x128',
      '--optimizer',
      'celo2',
      '--steps',
      '30',
      '--log-every',
      '29',
    );
    expect(r.code, r.stderr).toBe(0);
    const logs = jsonLines(r.stdout).filter((x) => 'trainLoss' in x);
    expect(logs[1]!.testLoss as number).toBeLessThan((logs[0]!.testLoss as number) - 0.5);
    expect(
      lopt('train', '--task', 'QuadraticTask', '--lopt', 'Celo2', '--lr', '0.01', '--steps', '3').stdout,
    ).toContain('Celo2 (published theta)');
    const out = tmp();
    const e = lopt('eval', '--lopt', 'Celo2', '--task', 'QuadraticTask', '--steps', '5', '--out', out);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toMatch(/Celo2 \(published theta\)/);
  });

  it('finds the data through --data-dir', () => {
    const env = cliEnv();
    const dataDir = env.LOPT_DATA_DIR!;
    delete env.LOPT_DATA_DIR;
    const args = ['train', '--task', 'ImageMLP_FashionMnist8_Relu32', '--optimizer', 'Adam', '--steps', '2'];
    const r = loptWithEnv(env, '--data-dir', dataDir, ...args);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/step 0: train loss 2\.\d+/);
  });
});

describe('meta-train, resume, interrupt, plot and eval', () => {
  const run = tmp();

  it('meta-trains with PES: metrics JSON lines, checkpoint and theta; --resume continues the step count', () => {
    const a = lopt(
      'meta-train',
      ...QUICK,
      '--estimator',
      'pes',
      '--outer-steps',
      '4',
      '--checkpoint-every',
      '2',
      '--out',
      run,
    );
    expect(a.code, a.stderr).toBe(0);
    expect(metricSteps(run)).toEqual([0, 1, 2, 3]);
    const recs = jsonLines(readFileSync(join(run, 'metrics.jsonl'), 'utf8'));
    for (const r of recs) {
      expect(Number.isFinite(r.loss)).toBe(true);
      expect(Object.keys(r.theta as object).sort()).toEqual(['logEpsilon', 'logLr', 'oneMinusBeta1', 'oneMinusBeta2']);
    }
    expect(checkpointStep(run)).toBe(4);
    const theta = JSON.parse(readFileSync(join(run, 'theta.json'), 'utf8')) as {
      format: string;
      learnedOptimizer: string;
    };
    expect(theta).toMatchObject({ format: 'lopt-theta', learnedOptimizer: 'LearnableAdam' });

    // Without --resume an existing run is not overwritten.
    expectOneLineError(lopt('meta-train', ...QUICK, '--outer-steps', '6', '--out', run));
    const b = lopt('--json', 'meta-train', ...QUICK, '--outer-steps', '7', '--out', run, '--resume');
    expect(b.code, b.stderr).toBe(0);
    const out = jsonLines(b.stdout);
    expect(out.filter((x) => 'step' in x).map((x) => x.step)).toEqual([4, 5, 6]);
    expect(out[out.length - 1]).toMatchObject({ event: 'done', outerSteps: 7, resumedFrom: 4 });
    expect(metricSteps(run)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(checkpointStep(run)).toBe(7);
  });

  it('resuming with another configuration is a one-line error', () => {
    const line = expectOneLineError(
      lopt('meta-train', ...QUICK, '--outer-steps', '9', '--out', run, '--resume', '--outer-lr', '0.5', '--tasks', '3'),
    );
    // The refusal names the settings that differ, with both values.
    expect(line).toMatch(
      /cannot resume from '.*checkpoint\.json': it was written by another configuration \(settings differ \(checkpoint -> this run\): outerLr: 0\.03 -> 0\.5; tasks: 2 -> 3\)/,
    );
  });

  it.each(['es', 'tes', 'tgrad', 'fullgrad', 'unroll'])('meta-trains with --estimator %s', (est) => {
    const dir = tmp();
    const r = lopt('-q', 'meta-train', ...QUICK, '--estimator', est, '--outer-steps', '2', '--out', dir);
    expect(r.code, r.stderr).toBe(0);
    expect(metricSteps(dir)).toEqual([0, 1]);
    expect(existsSync(join(dir, 'theta.json'))).toBe(true);
  });

  it('Ctrl-C (SIGINT) writes a final checkpoint and exits cleanly; the run resumes from it', async () => {
    const dir = tmp();
    const child = lopt$(
      'meta-train',
      ...QUICK,
      '--outer-steps',
      '100000',
      '--checkpoint-every',
      '100000',
      '--out',
      dir,
    );
    await waitFor(() => jsonLinesSoFar(join(dir, 'metrics.jsonl')).length >= 3);
    child.kill('SIGINT');
    const { code } = await exited(child);
    expect(code, child.err()).toBe(130);
    expect(child.err()).toBe('');
    expect(child.out()).toMatch(
      /interrupted \(SIGINT\) at outer step \d+: wrote checkpoint\.json, theta\.json, metrics\.jsonl and run\.json in /,
    );
    const steps = metricSteps(dir);
    expect(checkpointStep(dir)).toBe(steps.length); // every finished step is in the checkpoint
    expect(existsSync(join(dir, 'theta.json'))).toBe(true);
    const r = lopt('meta-train', ...QUICK, '--outer-steps', String(steps.length + 2), '--out', dir, '--resume');
    expect(r.code, r.stderr).toBe(0);
    expect(metricSteps(dir)).toEqual([...Array(steps.length + 2).keys()]);
  });

  it('a SIGKILLed run resumes from its last checkpoint', async () => {
    const dir = tmp();
    const child = lopt$('meta-train', ...QUICK, '--outer-steps', '100000', '--checkpoint-every', '2', '--out', dir);
    await waitFor(
      () => existsSync(join(dir, 'checkpoint.json')) && jsonLinesSoFar(join(dir, 'metrics.jsonl')).length >= 5,
    );
    child.kill('SIGKILL');
    await exited(child);
    const at = checkpointStep(dir);
    expect(at % 2).toBe(0);
    expect(at).toBeGreaterThanOrEqual(2);
    const r = lopt('--json', 'meta-train', ...QUICK, '--outer-steps', String(at + 3), '--out', dir, '--resume');
    expect(r.code, r.stderr).toBe(0);
    const recs = jsonLines(r.stdout);
    expect(recs.filter((x) => 'step' in x).map((x) => x.step)).toEqual([at, at + 1, at + 2]);
    expect(recs[recs.length - 1]).toMatchObject({ resumedFrom: at });
    expect(metricSteps(dir)).toEqual([...Array(at + 3).keys()]); // lines past the checkpoint were rewritten
  });

  it('plot draws the meta-loss curve and theta trajectories as SVG and PNG of the same size', () => {
    const out = tmp();
    const r = lopt('plot', run, '--out', out);
    expect(r.code, r.stderr).toBe(0);
    for (const name of ['meta-loss', 'theta']) {
      const svg = svgSize(join(out, `${name}.svg`));
      expect(svg.width).toBeGreaterThan(500);
      expect(pngSize(join(out, `${name}.png`))).toEqual({ width: svg.width, height: svg.height });
      expect(r.stdout).toContain(`${name}.png (${svg.width}x${svg.height})`);
    }
    expect(readFileSync(join(out, 'theta.svg'), 'utf8')).toContain('logLr');
  });

  it('eval compares the learned optimizer with baselines as a table and a plot', () => {
    const out = tmp();
    const theta = join(run, 'theta.json');
    const r = lopt(
      'eval',
      '--theta',
      theta,
      '--task',
      'QuadraticTask',
      '--steps',
      '30',
      '--baseline',
      'adam,sgd',
      '--out',
      out,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/LearnableAdam \(.*theta\.json\)/);
    expect(r.stdout).toMatch(/Adam_lr0\.01/);
    expect(r.stdout).toMatch(/SGD_lr0\.01/);
    const res = JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8')) as {
      rows: { finalTrainLoss: number }[];
      curves: { train: number[] }[];
    };
    expect(res.rows).toHaveLength(3);
    for (const c of res.curves) expect(c.train).toHaveLength(30);
    const svg = svgSize(join(out, 'eval-loss.svg'));
    expect(pngSize(join(out, 'eval-loss.png'))).toEqual({ width: svg.width, height: svg.height });
    // `plot` redraws an eval folder too.
    const again = tmp();
    expect(lopt('plot', out, '--out', again).code).toBe(0);
    expect(svgSize(join(again, 'eval-loss.svg')).text).toContain('SGD_lr0.01');
    // The learned theta also drives `train`.
    const t = lopt('train', '--task', 'QuadraticTask', '--theta', theta, '--steps', '5');
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toContain('LearnableAdam');
  });

  it('a theta of another learned optimizer, or a missing theta file, is a one-line error', () => {
    const theta = join(run, 'theta.json');
    expect(
      expectOneLineError(
        lopt('eval', '--lopt', 'MLPLOpt', '--theta', theta, '--task', 'QuadraticTask', '--steps', '3', '--out', tmp()),
      ),
    ).toMatch(/holds a theta of 'LearnableAdam', but it is being loaded for 'MLPLOpt'/);
    expect(
      expectOneLineError(lopt('train', '--task', 'QuadraticTask', '--theta', join(run, 'nope.json'), '--steps', '3')),
    ).toMatch(/theta file '.*nope\.json' does not exist/);
    const bad = join(tmp(), 'theta.json');
    writeFileSync(bad, '{"format":"lopt-theta"');
    expect(expectOneLineError(lopt('train', '--task', 'QuadraticTask', '--theta', bad, '--steps', '3'))).toMatch(
      /not valid JSON/,
    );
  });
});

describe('bad input: one line on stderr, a non-zero exit, no stack trace', () => {
  it('unknown names suggest the closest ones', () => {
    expect(
      expectOneLineError(
        lopt('train', '--task', 'ImageMLP_FashionMnist8_Relu23', '--optimizer', 'Adam', '--steps', '3'),
      ),
    ).toMatch(
      /unknown task or task family 'ImageMLP_FashionMnist8_Relu23'\. Did you mean 'ImageMLP_FashionMnist8_Relu32'/,
    );
    expect(
      expectOneLineError(lopt('train', '--task', 'QuadraticTask', '--optimizer', 'Adamm', '--steps', '3')),
    ).toMatch(/unknown optimizer 'Adamm'\. Did you mean 'Adam'/);
    expect(
      expectOneLineError(
        lopt('meta-train', '--lopt', 'LearnableAdan', '--task', 'QuadraticTask', '--outer-steps', '1', '--out', tmp()),
      ),
    ).toMatch(/unknown learned optimizer 'LearnableAdan'\. Did you mean 'LearnableAdam'/);
    expect(
      expectOneLineError(
        lopt(
          'meta-train',
          '--lopt',
          'LearnableAdam',
          '--task',
          'FixedDimQuadraticFamly',
          '--outer-steps',
          '1',
          '--out',
          tmp(),
        ),
      ),
    ).toMatch(/Did you mean 'FixedDimQuadraticFamily'/);
    expect(expectOneLineError(lopt('demo', 'part9'))).toMatch(/unknown demo 'part9'\. Did you mean 'part1'/);
  });

  it('non-numeric and out-of-range flags', () => {
    expect(
      expectOneLineError(lopt('train', '--task', 'QuadraticTask', '--optimizer', 'SGD', '--steps', 'ten')),
    ).toMatch(/--steps.*'ten' is not a positive integer/);
    expect(expectOneLineError(lopt('--seed', 'x', 'tasks'))).toMatch(/--seed.*'x' is not a seed/);
    expect(
      expectOneLineError(
        lopt('--seed', '1e30', 'train', '--task', 'QuadraticTask', '--optimizer', 'SGD', '--steps', '1'),
      ),
    ).toMatch(/--seed.*'1e30' is too large for a seed: give an integer from 0 to 9007199254740991/);
    // Only plain decimals: Number('0x10') would be 16.
    expect(
      expectOneLineError(
        lopt('train', '--task', 'QuadraticTask', '--optimizer', 'SGD', '--lr', '0x10', '--steps', '3'),
      ),
    ).toMatch(/--lr.*'0x10' is not a positive number \(write it in decimal/);
    expect(
      expectOneLineError(lopt('train', '--task', 'QuadraticTask', '--optimizer', 'SGD', '--steps', '0b11')),
    ).toMatch(/--steps.*'0b11'/);
    expect(
      expectOneLineError(lopt('train', '--task', 'QuadraticTask', '--optimizer', 'SGD', '--lr', '-1', '--steps', '3')),
    ).toMatch(/--lr/);
    expectOneLineError(
      lopt('meta-train', '--lopt', 'LearnableAdam', '--task', 'QuadraticTask', '--outer-steps', '1.5', '--out', tmp()),
    );
    expectOneLineError(
      lopt(
        'meta-train',
        '--lopt',
        'LearnableAdam',
        '--task',
        'QuadraticTask',
        '--estimator',
        'sgd',
        '--outer-steps',
        '1',
        '--out',
        tmp(),
      ),
    );
    expectOneLineError(lopt('--backend', 'gpu', 'tasks'));
    expect(
      expectOneLineError(
        lopt('--backend', 'tensorflow', 'train', '--task', 'QuadraticTask', '--optimizer', 'SGD', '--steps', '2'),
      ),
    ).toMatch(/backend 'tensorflow' is unavailable: install @tensorflow\/tfjs-node/);
    expectOneLineError(lopt('train', '--task', 'QuadraticTask', '--steps', '3')); // no optimizer
  });

  it('an unwritable output folder', () => {
    const file = join(tmp(), 'a-file');
    writeFileSync(file, '');
    expect(expectOneLineError(lopt('meta-train', ...QUICK, '--outer-steps', '1', '--out', join(file, 'run')))).toMatch(
      /cannot write to output folder '.*a-file\/run': part of the path is a file, not a folder; choose another --out$/,
    );
    expect(
      expectOneLineError(
        lopt('train', '--task', 'QuadraticTask', '--optimizer', 'SGD', '--steps', '2', '--out', join(file, 'x')),
      ),
    ).toMatch(/cannot write to output folder/);
    expect(expectOneLineError(lopt('plot', join(file, 'nothing')))).toMatch(/does not exist/);
    expect(expectOneLineError(lopt('plot', tmp()))).toMatch(/holds no run to plot/);
  });
});

describe('demo part1', () => {
  it('runs the walkthrough briefly: summary, and meta-loss and learning-rate curves as SVG and PNG', () => {
    const out = tmp();
    const r = lopt('--json', 'demo', 'part1', '--meta-iterations', '15', '--sgd-steps', '20', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>;
    expect(s.metaIterations).toBe(15);
    expect(s.finalMetaLoss).toBeGreaterThan(1);
    expect(s.finalMetaLoss).toBeLessThan(2.6);
    // The meta-gradient says "raise the learning rate": after 15 Adam(0.01) steps logLr rose by about 0.15.
    expect(s.learnedLearningRate).toBeGreaterThan(1.08e-3);
    expect(s.wallSeconds).toBeGreaterThan(0);
    for (const name of ['meta-loss', 'learning-rate']) {
      const svg = svgSize(join(out, `${name}.svg`));
      expect(pngSize(join(out, `${name}.png`))).toEqual({ width: svg.width, height: svg.height });
    }
    expect(jsonLines(readFileSync(join(out, 'part1.jsonl'), 'utf8'))).toHaveLength(15);
    const replot = tmp();
    const p = lopt('plot', out, '--out', replot);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/learning-rate\.png \(\d+x\d+\)/);
    pngSize(join(replot, 'learning-rate.png'));
    const human = lopt('demo', 'part1', '--meta-iterations', '2', '--sgd-steps', '0', '--out', out, '--force');
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/final meta-loss\s+\d\.\d+/);
    expect(human.stdout).toMatch(/learned learning rate\s+[\d.e-]+ \(from 0\.001/);
    expect(human.stdout).toMatch(/wall time\s+[\d.]+ s/);
  });
});

describe('names, data and divergence', () => {
  it('train and eval take a task family (a task drawn with --seed); meta-train headers name truncations only for truncated estimators', () => {
    const r = lopt('train', '--task', 'FixedDimQuadraticFamily', '--optimizer', 'SGD', '--lr', '0.1', '--steps', '40');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('training FixedDimQuadraticTask (drawn from FixedDimQuadraticFamily with seed 0)');
    const m = /final train loss ([\d.e+-]+)/.exec(r.stdout)!;
    const first = /step 0: train loss ([\d.e+-]+)/.exec(r.stdout)!;
    expect(Number(m[1])).toBeLessThan(Number(first[1]) * 1e-3);
    const es = lopt('meta-train', ...QUICK, '--estimator', 'es', '--outer-steps', '1', '--out', tmp());
    expect(es.code, es.stderr).toBe(0);
    expect(es.stdout).toContain('unrolls of 10 inner steps');
    expect(es.stdout).not.toContain('truncations');
    const pes = lopt('meta-train', ...QUICK, '--estimator', 'pes', '--outer-steps', '1', '--out', tmp());
    expect(pes.stdout).toContain('10 inner steps in truncations of 5');
  });

  it('a non-finite training loss stops train at that step, names it, and still writes the log and plot', () => {
    const dir = tmp();
    const r = lopt(
      'train',
      '--task',
      'QuadraticTask',
      '--optimizer',
      'SGD',
      '--lr',
      '1e10',
      '--steps',
      '1000',
      '--out',
      dir,
    );
    const line = expectOneLineError(r);
    // SGD(1e10) on sum(x^2) multiplies x by (1 - 2e10) a step: float32 overflows within a few steps.
    const m =
      /the training loss of SGD_lr1[\d.]+ became (Infinity|NaN) at step (\d+); training stopped there \(is the learning rate too large\? try a smaller --lr\)/.exec(
        line,
      );
    expect(m, line).not.toBeNull();
    const step = Number(m![2]);
    expect(step).toBeGreaterThan(0);
    expect(step).toBeLessThan(10);
    expect(r.stdout).toContain(`stopped at step ${step}: non-finite training loss; wrote train.jsonl`);
    const log = jsonLines(readFileSync(join(dir, 'train.jsonl'), 'utf8'));
    expect(log[log.length - 1]).toMatchObject({ step, trainLoss: m![1] });
    pngSize(join(dir, 'train-loss.png'));
  });

  it('without data the error names the files and every way to give them', () => {
    const env = cliEnv();
    const empty = tmp();
    env.LOPT_DATA_DIR = empty;
    env.HOME = empty;
    env.XDG_CACHE_HOME = join(empty, 'cache');
    const line = expectOneLineError(
      loptWithEnv(
        env,
        '--no-download',
        'train',
        '--task',
        'ImageMLP_FashionMnist8_Relu32',
        '--optimizer',
        'Adam',
        '--steps',
        '1',
      ),
    );
    expect(line).toMatch(/could not load task 'ImageMLP_FashionMnist8_Relu32': .* not found in .*fashion-mnist/);
    for (const s of [
      'train-images-idx3-ubyte.gz',
      'train-labels-idx1-ubyte.gz',
      't10k-images-idx3-ubyte.gz',
      't10k-labels-idx1-ubyte.gz',
      '--data-dir',
      'LOPT_DATA_DIR',
      'dataset-fashion-mnist',
    ]) {
      expect(line).toContain(s);
    }
  });

  it('CIFAR tasks read the official binary layout from --data-dir, and say so without it', () => {
    const env = cliEnv();
    delete env.LOPT_DATA_DIR;
    const args = ['train', '--task', 'ImageMLP_Cifar10BW8_Relu32', '--optimizer', 'Adam', '--steps', '100'];
    expect(expectOneLineError(loptWithEnv(env, ...args))).toMatch(
      /ImageMLP_Cifar10BW8_Relu32 needs the CIFAR-10 binary files, which lopt does not download: unpack cifar-10-binary\.tar\.gz .* holds cifar-10-batches-bin\/, and pass that folder with --data-dir/,
    );
    // Files in the official layout (a label byte, then 3 x 32 x 32 pixel bytes), with
    // a class-dependent brightness the MLP can learn.
    const root = tmp();
    const dir = join(root, 'cifar-10-batches-bin');
    mkdirSync(dir);
    let seed = 1;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const file = (name: string, n: number) => {
      const b = new Uint8Array(n * 3073);
      for (let i = 0; i < n; i++) {
        const label = i % 10;
        b[i * 3073] = label;
        for (let j = 1; j < 3073; j++) b[i * 3073 + j] = Math.min(255, Math.floor(label * 25 + rand() * 10));
      }
      writeFileSync(join(dir, name), b);
    };
    for (let i = 1; i <= 5; i++) file(`data_batch_${i}.bin`, 260);
    file('test_batch.bin', 260);
    const r = loptWithEnv(env, '--data-dir', root, '--json', ...args);
    expect(r.code, r.stderr).toBe(0);
    const done = jsonLines(r.stdout).pop()!;
    expect(done.finalTestLoss as number).toBeLessThan(1.6); // from ln 10 = 2.3 (1.34 measured on wasm)
  });
});

describe('language-model tasks on the Jargon File', () => {
  it('are listed, train with Adam and meta-train as a family', () => {
    const t = JSON.parse(lopt('tasks', '--json').stdout) as {
      tasks: { name: string; data: string }[];
      families: { name: string; data: string }[];
    };
    const text = t.tasks.filter((x) => x.data === 'Jargon File (text)').map((x) => x.name);
    expect(text).toEqual(
      expect.arrayContaining([
        'RNNLM_JargonByte_Patch32_VanillaRNN64_Embed32',
        'RNNLM_JargonByte_Patch32_GRU64_Embed32',
        'RNNLM_JargonByte_Patch32_LSTM64_Embed32',
        'TransformerLM_JargonByte_Patch32_2layer_64width',
      ]),
    );
    expect(t.families.filter((x) => x.data === 'Jargon File (text)').map((x) => x.name)).toEqual([
      'ParametricLMRNN',
      'ParametricLMTransformer',
    ]);

    const dir = tmp();
    const r = lopt(
      'train',
      '--task',
      'RNNLM_JargonByte_Patch32_VanillaRNN64_Embed32',
      '--optimizer',
      'Adam',
      '--steps',
      '30',
      '--log-every',
      '29',
      '--out',
      dir,
    );
    expect(r.code, r.stderr).toBe(0);
    const log = jsonLines(readFileSync(join(dir, 'train.jsonl'), 'utf8'));
    expect(log[0]!.testLoss as number).toBeGreaterThan(5); // about ln 256 at initialisation
    expect(log[log.length - 1]!.testLoss as number).toBeLessThan(3.5); // real text, learnt

    const m = lopt(
      'meta-train',
      '--lopt',
      'LearnableAdam',
      '--task',
      'ParametricLMRNN',
      '--tasks',
      '2',
      '--inner-steps',
      '4',
      '--trunc-length',
      '2',
      '--outer-steps',
      '2',
      '--out',
      tmp(),
    );
    expect(m.code, m.stderr).toBe(0);
  }, 300_000);
});

describe('--verbose', () => {
  it('prints how often each op took its fast kernel or its plain ops (kernels run on cpu and wasm; LOPT_FAST_PATHS=off forces plain)', () => {
    const args = [
      '--verbose',
      'train',
      '--task',
      'ImageMLP_FashionMnist8_Relu32',
      '--optimizer',
      'Adam',
      '--steps',
      '6',
      '--quiet',
    ];
    const r = lopt(...args);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/fast paths:\n/);
    expect(r.stderr).toMatch(/ {2}adamStep: [1-9]\d* fast, 0 plain\n/);
    expect(r.stderr).toMatch(/ {2}ImageMLPTask\.loss: [1-9]\d* fast, \d+ plain\n/);
    const env = cliEnv();
    env.LOPT_FAST_PATHS = 'off';
    const plain = loptWithEnv(env, ...args);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).toMatch(/ {2}adamStep: 0 fast, [1-9]\d* plain\n/);
    expect(plain.stderr).toMatch(/ {2}ImageMLPTask\.loss: 0 fast, [1-9]\d* plain\n/);
    // Without the flag nothing is printed.
    expect(lopt(...args.slice(1)).stderr).not.toContain('fast paths');
  });
});
