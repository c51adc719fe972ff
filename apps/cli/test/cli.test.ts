import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  cliEnv,
  ensureBuilt,
  exited,
  expectOneLineError,
  jsonLines,
  lopt,
  lopt$,
  loptWithEnv,
  pngSize,
  svgSize,
  tmp,
  waitFor,
} from './helpers';

beforeAll(() => ensureBuilt());

// A small meta-training configuration shared by the tests (10-d quadratics, 2 problems).
const QUICK = ['--lopt', 'LearnableAdam', '--task', 'FixedDimQuadraticFamily', '--tasks', '2', '--inner-steps', '10', '--trunc-length', '5'];

function checkpointStep(dir: string): number {
  return (JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')) as { outerIteration: number }).outerIteration;
}

function metricSteps(dir: string): number[] {
  return jsonLines(readFileSync(join(dir, 'metrics.jsonl'), 'utf8')).map((r) => r.step as number);
}

describe('help and listings', () => {
  it('--help of every command lists its options and the global flags', () => {
    const expected: Record<string, string[]> = {
      demo: ['<part>', '--meta-iterations', '--sgd-steps', '--unroll', '--outer-lr', '--out'],
      train: ['--task', '--optimizer', '--lr', '--lopt', '--theta', '--steps', '--log-every', '--out'],
      'meta-train': ['--lopt', '--task', '--estimator', '--outer-steps', '--tasks', '--out', '--resume', '--inner-steps', '--trunc-length', '--std', '--outer-lr', '--checkpoint-every', 'SIGINT'],
      eval: ['--lopt', '--theta', '--task', '--steps', '--baseline', '--lr', '--out'],
      plot: ['<dir>', '--out', '--log-y'],
      tasks: [],
      optimizers: [],
    };
    for (const [cmd, flags] of Object.entries(expected)) {
      const r = lopt(cmd, '--help');
      expect(r.code, cmd).toBe(0);
      for (const f of [...flags, '--backend', '--seed', '--data-dir', '--quiet', '--json']) expect(r.stdout, `${cmd} ${f}`).toContain(f);
    }
    const top = lopt('--help');
    for (const cmd of Object.keys(expected)) expect(top.stdout).toContain(cmd);
    for (const e of ['pes', 'es', 'tes', 'tgrad', 'fullgrad', 'unroll']) expect(lopt('meta-train', '--help').stdout).toContain(`"${e}"`);
  });

  it('tasks and optimizers list the registered names (as a table, and as JSON)', () => {
    const t = JSON.parse(lopt('tasks', '--json').stdout) as { tasks: { name: string }[]; families: { name: string }[] };
    expect(t.tasks.map((x) => x.name)).toContain('ImageMLP_FashionMnist8_Relu32');
    expect(t.tasks.map((x) => x.name)).toContain('QuadraticTask');
    expect(t.families.map((x) => x.name)).toContain('FixedDimQuadraticFamily');
    const o = JSON.parse(lopt('optimizers', '--json').stdout) as { optimizers: { name: string }[]; learnedOptimizers: { name: string }[] };
    expect(o.optimizers.map((x) => x.name)).toEqual(expect.arrayContaining(['SGD', 'Adam']));
    expect(o.learnedOptimizers.map((x) => x.name)).toEqual(expect.arrayContaining(['LearnableAdam', 'MLPLOpt']));
    const table = lopt('optimizers');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/│ Adam\s+│ hand-designed │ 0\.01/);
  });
});

describe('train', () => {
  it('trains a quadratic with SGD to near zero, one JSON line per logged step, nothing on stderr', () => {
    const r = lopt('--json', 'train', '--task', 'QuadraticTask', '--optimizer', 'sgd', '--lr', '0.1', '--steps', '60', '--log-every', '10');
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
    const r = lopt('train', '--backend', 'cpu', '--seed', '3', '--task', 'QuadraticTask', '--optimizer', 'SGD', '--steps', '2');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('on cpu');
    expect(r.stderr).toBe('');
    // --seed draws other initial parameters.
    expect(lopt('train', '--seed', '3', '--task', 'QuadraticTask', '--optimizer', 'SGD', '--steps', '1').stdout).not.toBe(
      lopt('train', '--seed', '4', '--task', 'QuadraticTask', '--optimizer', 'SGD', '--steps', '1').stdout,
    );
  });

  it('trains the 8x8 Fashion-MNIST MLP with Adam and writes its log and loss plot', () => {
    const dir = tmp();
    const r = lopt('train', '--task', 'ImageMLP_FashionMnist8_Relu32', '--optimizer', 'Adam', '--steps', '150', '--out', dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/step 0: train loss 2\.\d+/);
    const log = jsonLines(readFileSync(join(dir, 'train.jsonl'), 'utf8'));
    expect(log[0]!.testLoss as number).toBeGreaterThan(1.9); // about ln 10 at initialisation
    expect(log[log.length - 1]!.testLoss as number).toBeLessThan(1.3); // real data, learnt
    const svg = svgSize(join(dir, 'train-loss.svg'));
    expect(pngSize(join(dir, 'train-loss.png'))).toEqual({ width: svg.width, height: svg.height });
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
    const a = lopt('meta-train', ...QUICK, '--estimator', 'pes', '--outer-steps', '4', '--checkpoint-every', '2', '--out', run);
    expect(a.code, a.stderr).toBe(0);
    expect(metricSteps(run)).toEqual([0, 1, 2, 3]);
    const recs = jsonLines(readFileSync(join(run, 'metrics.jsonl'), 'utf8'));
    for (const r of recs) {
      expect(Number.isFinite(r.loss)).toBe(true);
      expect(Object.keys(r.theta as object).sort()).toEqual(['logEpsilon', 'logLr', 'oneMinusBeta1', 'oneMinusBeta2']);
    }
    expect(checkpointStep(run)).toBe(4);
    const theta = JSON.parse(readFileSync(join(run, 'theta.json'), 'utf8')) as { format: string; learnedOptimizer: string };
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
    const line = expectOneLineError(lopt('meta-train', ...QUICK, '--outer-steps', '9', '--out', run, '--resume', '--outer-lr', '0.5'));
    expect(line).toMatch(/cannot resume .*another configuration/);
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
    const child = lopt$('meta-train', ...QUICK, '--outer-steps', '100000', '--checkpoint-every', '100000', '--out', dir);
    await waitFor(() => existsSync(join(dir, 'metrics.jsonl')) && metricSteps(dir).length >= 3);
    child.kill('SIGINT');
    const { code } = await exited(child);
    expect(code, child.err()).toBe(130);
    expect(child.err()).toBe('');
    expect(child.out()).toMatch(/interrupted at outer step \d+/);
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
    await waitFor(() => existsSync(join(dir, 'checkpoint.json')) && metricSteps(dir).length >= 5);
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
    const r = lopt('eval', '--theta', theta, '--task', 'QuadraticTask', '--steps', '30', '--baseline', 'adam,sgd', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/LearnableAdam \(.*theta\.json\)/);
    expect(r.stdout).toMatch(/Adam_lr0\.01/);
    expect(r.stdout).toMatch(/SGD_lr0\.01/);
    const res = JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8')) as { rows: { finalTrainLoss: number }[]; curves: { train: number[] }[] };
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
    expect(expectOneLineError(lopt('eval', '--lopt', 'MLPLOpt', '--theta', theta, '--task', 'QuadraticTask', '--steps', '3', '--out', tmp()))).toMatch(
      /holds a theta of 'LearnableAdam', but it is being loaded for 'MLPLOpt'/,
    );
    expect(expectOneLineError(lopt('train', '--task', 'QuadraticTask', '--theta', join(run, 'nope.json'), '--steps', '3'))).toMatch(
      /theta file '.*nope\.json' does not exist/,
    );
    const bad = join(tmp(), 'theta.json');
    writeFileSync(bad, '{"format":"lopt-theta"');
    expect(expectOneLineError(lopt('train', '--task', 'QuadraticTask', '--theta', bad, '--steps', '3'))).toMatch(/not valid JSON/);
  });
});

describe('bad input: one line on stderr, a non-zero exit, no stack trace', () => {
  it('unknown names suggest the closest ones', () => {
    expect(expectOneLineError(lopt('train', '--task', 'ImageMLP_FashionMnist8_Relu23', '--optimizer', 'Adam', '--steps', '3'))).toMatch(
      /unknown task 'ImageMLP_FashionMnist8_Relu23'\. Did you mean 'ImageMLP_FashionMnist8_Relu32'/,
    );
    expect(expectOneLineError(lopt('train', '--task', 'QuadraticTask', '--optimizer', 'Adamm', '--steps', '3'))).toMatch(
      /unknown optimizer 'Adamm'\. Did you mean 'Adam'/,
    );
    expect(expectOneLineError(lopt('meta-train', '--lopt', 'LearnableAdan', '--task', 'QuadraticTask', '--outer-steps', '1', '--out', tmp()))).toMatch(
      /unknown learned optimizer 'LearnableAdan'\. Did you mean 'LearnableAdam'/,
    );
    expect(expectOneLineError(lopt('meta-train', '--lopt', 'LearnableAdam', '--task', 'FixedDimQuadraticFamly', '--outer-steps', '1', '--out', tmp()))).toMatch(
      /Did you mean 'FixedDimQuadraticFamily'/,
    );
    expect(expectOneLineError(lopt('demo', 'part9'))).toMatch(/unknown demo 'part9'\. Did you mean 'part1'/);
  });

  it('non-numeric and out-of-range flags', () => {
    expect(expectOneLineError(lopt('train', '--task', 'QuadraticTask', '--optimizer', 'SGD', '--steps', 'ten'))).toMatch(/--steps.*'ten' is not a positive integer/);
    expect(expectOneLineError(lopt('--seed', 'x', 'tasks'))).toMatch(/--seed.*not a non-negative integer/);
    expect(expectOneLineError(lopt('train', '--task', 'QuadraticTask', '--optimizer', 'SGD', '--lr', '-1', '--steps', '3'))).toMatch(/--lr/);
    expectOneLineError(lopt('meta-train', '--lopt', 'LearnableAdam', '--task', 'QuadraticTask', '--outer-steps', '1.5', '--out', tmp()));
    expectOneLineError(lopt('meta-train', '--lopt', 'LearnableAdam', '--task', 'QuadraticTask', '--estimator', 'sgd', '--outer-steps', '1', '--out', tmp()));
    expectOneLineError(lopt('--backend', 'gpu', 'tasks'));
    expect(expectOneLineError(lopt('--backend', 'tensorflow', 'train', '--task', 'QuadraticTask', '--optimizer', 'SGD', '--steps', '2'))).toMatch(
      /backend 'tensorflow' is unavailable: install @tensorflow\/tfjs-node/,
    );
    expectOneLineError(lopt('train', '--task', 'QuadraticTask', '--steps', '3')); // no optimizer
  });

  it('an unwritable output folder', () => {
    const file = join(tmp(), 'a-file');
    writeFileSync(file, '');
    expect(expectOneLineError(lopt('meta-train', ...QUICK, '--outer-steps', '1', '--out', join(file, 'run')))).toMatch(/cannot write to output folder/);
    expect(expectOneLineError(lopt('train', '--task', 'QuadraticTask', '--optimizer', 'SGD', '--steps', '2', '--out', join(file, 'x')))).toMatch(
      /cannot write to output folder/,
    );
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
    const human = lopt('demo', 'part1', '--meta-iterations', '2', '--sgd-steps', '0', '--out', out);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/final meta-loss\s+\d\.\d+/);
    expect(human.stdout).toMatch(/learned learning rate\s+[\d.e-]+ \(from 0\.001/);
    expect(human.stdout).toMatch(/wall time\s+[\d.]+ s/);
  });
});

describe('language-model tasks on the Jargon File', () => {
  it('are listed, train with Adam and meta-train as a family', () => {
    const t = JSON.parse(lopt('tasks', '--json').stdout) as { tasks: { name: string; data: string }[]; families: { name: string; data: string }[] };
    const text = t.tasks.filter((x) => x.data === 'Jargon File (text)').map((x) => x.name);
    expect(text).toEqual(
      expect.arrayContaining([
        'RNNLM_JargonByte_Patch32_VanillaRNN64_Embed32',
        'RNNLM_JargonByte_Patch32_GRU64_Embed32',
        'RNNLM_JargonByte_Patch32_LSTM64_Embed32',
        'TransformerLM_JargonByte_Patch32_2layer_64width',
      ]),
    );
    expect(t.families.filter((x) => x.data === 'Jargon File (text)').map((x) => x.name)).toEqual(['ParametricLMRNN', 'ParametricLMTransformer']);

    const dir = tmp();
    const r = lopt('train', '--task', 'RNNLM_JargonByte_Patch32_VanillaRNN64_Embed32', '--optimizer', 'Adam', '--steps', '30', '--log-every', '29', '--out', dir);
    expect(r.code, r.stderr).toBe(0);
    const log = jsonLines(readFileSync(join(dir, 'train.jsonl'), 'utf8'));
    expect(log[0]!.testLoss as number).toBeGreaterThan(5); // about ln 256 at initialisation
    expect(log[log.length - 1]!.testLoss as number).toBeLessThan(3.5); // real text, learnt

    const m = lopt('meta-train', '--lopt', 'LearnableAdam', '--task', 'ParametricLMRNN', '--tasks', '2', '--inner-steps', '4', '--trunc-length', '2', '--outer-steps', '2', '--out', tmp());
    expect(m.code, m.stderr).toBe(0);
  }, 300_000);
});
