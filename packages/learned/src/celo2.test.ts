// Celo2 against its reference. The fixtures (fixtures/celo2/*.json, written by
// scripts/celo2-fixtures.py) hold the reference update computed in float64 from the
// published weights: the initial parameters, 50 steps of gradients, and the parameters
// after steps 1, 2, 5, 10, 25 and 50. The script also checked PyLO's own Celo2_naive
// against those values (float32: within 2e-6).
import { readFileSync } from 'node:fs';
import { random, treeDispose, treeLeaves } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celo2, type Celo2Options, type Celo2State } from './celo2.js';
import { celo2AdamWLeaves } from './celo2-leaves.js';
import { type Celo2Theta, celo2Theta } from './celo2-theta.js';
import { CELO2_WEIGHTS } from './celo2-weights.js';

interface Fixture {
  weightsSha256: string;
  config: {
    lr: number;
    weight_decay: number;
    momentum_decays: number[];
    rms_decays: number[];
    adafactor_decays: number[];
    exp_mult: number;
    rms_mult: number;
    ns_coeffs: [number, number, number];
    ns_iters: number;
    adam_betas: [number, number];
    adam_eps: number;
  };
  leaves: { name: string; shape: number[]; adamw: boolean; init: string }[];
  grads: string[][];
  checkpoints: { step: number; params: string[] }[];
}

function load(name: string): Fixture {
  return JSON.parse(readFileSync(new URL(`../fixtures/celo2/${name}.json`, import.meta.url), 'utf8')) as Fixture;
}

function floats(b64: string): Float32Array {
  const bytes = Buffer.from(b64, 'base64');
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}

function optionsOf(f: Fixture): Celo2Options {
  const c = f.config;
  return {
    learningRate: c.lr,
    weightDecay: c.weight_decay,
    momentumDecays: c.momentum_decays,
    rmsDecays: c.rms_decays,
    adafactorDecays: c.adafactor_decays,
    expMult: c.exp_mult,
    rmsMult: c.rms_mult,
    nsCoeffs: c.ns_coeffs,
    nsIters: c.ns_iters,
    adamBetas: c.adam_betas,
    adamEps: c.adam_eps,
  };
}

/** max |a - b| / max |b|: the error relative to the leaf's scale. */
function relErr(got: Float32Array, want: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    num = Math.max(num, Math.abs(got[i]! - want[i]!));
    den = Math.max(den, Math.abs(want[i]!));
  }
  return num / den;
}

/** Runs the fixture's 50 steps; returns the largest relative error at the checkpoints. */
function replay(
  f: Fixture,
  opts: Celo2Options,
  theta: Celo2Theta,
): { worst: number; perLeaf: Record<string, number>; leaked: number } {
  const params = f.leaves.map((l) => tf.tensor(floats(l.init), l.shape));
  const opt = new Celo2(opts).optFn(theta);
  let state = opt.init(params) as Celo2State<tf.Tensor[]>;
  const perLeaf: Record<string, number> = {};
  let worst = 0;
  let afterFirst = 0;
  for (let t = 0; t < f.grads.length; t++) {
    const grads = f.grads[t]!.map((g, i) => tf.tensor(floats(g), f.leaves[i]!.shape));
    const next = opt.update(state, grads) as Celo2State<tf.Tensor[]>;
    treeDispose(state, grads);
    state = next;
    if (t === 0) afterFirst = tf.memory().numTensors;
    const cp = f.checkpoints.find((c) => c.step === t + 1);
    if (cp) {
      state.params.forEach((p, i) => {
        const e = relErr(p.dataSync() as Float32Array, floats(cp.params[i]!));
        const name = f.leaves[i]!.name;
        perLeaf[name] = Math.max(perLeaf[name] ?? 0, e);
        worst = Math.max(worst, e);
      });
    }
  }
  const leaked = tf.memory().numTensors - afterFirst;
  treeDispose(state);
  return { worst, perLeaf, leaked };
}

describe('Celo2 matches the reference update (PyLO Celo2_naive) over 50 steps', () => {
  let theta: Celo2Theta;
  beforeAll(() => {
    theta = celo2Theta();
  });
  afterAll(() => treeDispose(theta));

  it('bundles the published weights the fixtures were made with', () => {
    const f = load('mlp');
    expect(f.weightsSha256).toBe('2dd612b1e309c4e46f133327a5fd7a13df735f6180ab40a4119ff8e5b5dc0bb0');
    const n = Object.values(CELO2_WEIGHTS).reduce((a, e) => a + e.values.length, 0);
    expect(n).toBe(347);
    expect(theta.mlp.map((l) => [l.w.shape, l.b.shape])).toEqual([
      [[30, 8], [8]],
      [[8, 8], [8]],
      [[8, 3], [3]],
    ]);
    // Row 0 of the first layer is group 0's [8, 1] matrix, transposed.
    const w0 = Array.from(theta.mlp[0]!.w.dataSync().slice(0, 8));
    expect(w0).toEqual(Array.from(new Float32Array(CELO2_WEIGHTS['first_layer_weights.0']!.values)));
  });

  it('on an MLP with biases and four weight matrices (AdamW and learned leaves, default options)', () => {
    const f = load('mlp');
    const shapes = f.leaves.map((l) => tf.zeros(l.shape));
    // The default rule over the flattening order gives the reference's routing.
    expect(celo2AdamWLeaves(shapes)).toEqual(f.leaves.map((l) => l.adamw));
    expect(f.leaves.filter((l) => !l.adamw).map((l) => l.name)).toEqual(['w1', 'w2']);
    treeDispose(shapes);
    // The fixture ran the reference's defaults, which are Celo2's.
    const { adamw: _, ...defaults } = new Celo2().options;
    expect(optionsOf(f)).toEqual(defaults);
    const { worst, perLeaf, leaked } = replay(f, {}, theta);
    console.log(`Celo2 vs reference, MLP fixture: max relative error ${worst.toExponential(2)}`, perLeaf);
    expect(worst).toBeLessThanOrEqual(1e-5);
    expect(leaked).toBe(0);
  });

  it('on 4-D conv kernels (both layouts), a bias moved to the learned path, weight decay and expMult', () => {
    const f = load('conv');
    const shapes = f.leaves.map((l) => tf.zeros(l.shape));
    const mask = f.leaves.map((l) => (l.name === 'b0' ? false : undefined));
    expect(celo2AdamWLeaves(shapes, mask)).toEqual(f.leaves.map((l) => l.adamw));
    expect(f.leaves.filter((l) => !l.adamw).map((l) => l.name)).toEqual(['b0', 'k1', 'k2']);
    treeDispose(shapes);
    const { worst, perLeaf, leaked } = replay(f, { ...optionsOf(f), adamw: mask }, theta);
    console.log(`Celo2 vs reference, conv fixture: max relative error ${worst.toExponential(2)}`, perLeaf);
    expect(worst).toBeLessThanOrEqual(1e-5);
    expect(leaked).toBe(0);
  });

  it('the comparison is sensitive: a wrong Newton–Schulz coefficient is caught', () => {
    const f = load('mlp');
    const { worst } = replay(f, { nsCoeffs: [3.4445, -4.775, 2.03] }, theta);
    expect(worst).toBeGreaterThan(1e-4);
  });
});

describe('Celo2 in use', () => {
  it('keeps tf.memory().numTensors flat over 30 steps of a learned and AdamW mix', () => {
    const theta = celo2Theta();
    const opt = new Celo2({ weightDecay: 0.01 }).optFn(theta);
    const keys = random.split(random.PRNGKey(0), 4);
    const params = {
      a: random.normal(keys[0]!, [8, 6]),
      b: random.normal(keys[1]!, [6, 5]),
      c: random.normal(keys[2]!, [5, 4]),
      d: tf.zeros([4]),
    };
    let state = opt.init(params);
    const counts: number[] = [];
    for (let i = 0; i < 30; i++) {
      const grads = tf.tidy(() => ({
        a: tf.mul(params.a, 0.1),
        b: tf.sin(params.b),
        c: tf.ones([5, 4]),
        d: tf.ones([4]),
      }));
      const next = opt.update(state, grads);
      if (i > 0) treeDispose(state);
      treeDispose(grads);
      state = next;
      counts.push(tf.memory().numTensors);
    }
    expect(new Set(counts.slice(1)).size).toBe(1);
    expect(treeLeaves(state.params as never as tf.Tensor[]).every((t) => t.dataSync().every(Number.isFinite))).toBe(
      true,
    );
    treeDispose(state, params, theta);
  });

  it('routes leaves by the default rule and honours predicates and masks', () => {
    const p = {
      embedding: tf.zeros([10, 4]),
      layers: [
        { w: tf.zeros([4, 8]), b: tf.zeros([8]) },
        { w: tf.zeros([8, 8]), b: tf.zeros([8]) },
        { w: tf.zeros([3, 3, 8, 8]), b: tf.zeros([8]) },
        { w: tf.zeros([8, 2]), b: tf.zeros([2]) },
      ],
      scale: tf.scalar(1),
    };
    // Flattening order: embedding, layers[0].b, layers[0].w, ..., layers[3].w, scale.
    // First 2-D+ leaf: the embedding (AdamW anyway); last: layers[3].w.
    expect(celo2AdamWLeaves(p)).toEqual([true, true, false, true, false, true, false, true, true, true]);
    // A predicate: every matrix of 8 columns by the learned rule, the rest as by default.
    const seen: string[] = [];
    const byPredicate = celo2AdamWLeaves(p, (leaf) => {
      seen.push(leaf.path);
      return leaf.shape.length === 2 && leaf.shape[1] === 8 ? false : undefined;
    });
    expect(seen).toEqual([
      '.embedding',
      '.layers[0].b',
      '.layers[0].w',
      '.layers[1].b',
      '.layers[1].w',
      '.layers[2].b',
      '.layers[2].w',
      '.layers[3].b',
      '.layers[3].w',
      '.scale',
    ]);
    expect(byPredicate).toEqual([true, true, false, true, false, true, false, true, true, true]);
    // A mask: a prefix tree, booleans at inner nodes cover their subtrees.
    expect(celo2AdamWLeaves(p, { layers: [true, undefined, { w: true }, { w: false }] })).toEqual([
      true,
      true,
      true,
      true,
      false,
      true,
      true,
      true,
      false,
      true,
    ]);
    expect(() => celo2AdamWLeaves(p, { scale: false })).toThrow(/leaf \.scale is a scalar.*let it take AdamW/);
    expect(() => celo2AdamWLeaves(p, { layers: { w: true } })).toThrow(
      /mask has an object at \.layers, where the params have an array/,
    );
    expect(() => celo2AdamWLeaves(p, () => 1 as never)).toThrow(/returned 1 for \.embedding/);
    treeDispose(p);
  });

  it('refuses a theta that does not fit its options, and bad options, with what to do', () => {
    const theta = celo2Theta();
    expect(() => new Celo2({ momentumDecays: [0.9, 0.99], adafactorDecays: [0.9, 0.99] }).optFn(theta)).toThrow(
      /expected \[22, 8\].*the published theta needs the default decays/,
    );
    expect(() => new Celo2({ momentumDecays: [0.9, 0.99], adafactorDecays: [0.9, 0.99, 0.999] })).toThrow(
      /same number of decays/,
    );
    expect(() => new Celo2({ learningRate: -1 })).toThrow(/learningRate must be a finite number >= 0, got -1/);
    expect(() => new Celo2({ rmsDecays: [1.5] })).toThrow(/rmsDecays must hold decays in \[0, 1\), got 1.5/);
    const opt = new Celo2().optFn(theta);
    const state = opt.init({ w: tf.zeros([3, 4]) });
    expect(() => opt.update(state, { w: tf.zeros([4, 3]) })).toThrow(
      /grads leaf 0 has shape \[4, 3\] but the param has shape \[3, 4\]/,
    );
    treeDispose(state, theta);
  });

  it('a fresh theta from init(key) has the published shapes and gives a finite update', () => {
    const lopt = new Celo2();
    const theta = lopt.init(random.PRNGKey(3));
    expect(theta.mlp.map((l) => l.w.shape)).toEqual([
      [30, 8],
      [8, 8],
      [8, 3],
    ]);
    const opt = lopt.optFn(theta);
    const p = { a: tf.ones([2, 3]), b: tf.ones([3, 3]), c: tf.ones([3, 2]) };
    const s0 = opt.init(p);
    const s1 = opt.update(s0, { a: tf.ones([2, 3]), b: tf.ones([3, 3]), c: tf.ones([3, 2]) });
    expect(Array.from((s1.params as typeof p).b.dataSync()).every(Number.isFinite)).toBe(true);
    treeDispose(s0, s1, theta);
  });
});
