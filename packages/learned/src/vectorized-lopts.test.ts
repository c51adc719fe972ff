// `vectorizedOptFn(thetas)` updates K problems at once (states stacked on a leading
// axis). These tests compare it with K separate `optFn(thetas[k])` updates, values and
// meta-gradients, on parameters of every rank (scalar to rank 3) with an exact-zero
// gradient row, as dead units give.

import type { OptState } from '@lopt/optimizers';
import {
  fastPathCounts,
  fastPathsActive,
  type PyTree,
  random,
  resetFastPathCounts,
  setFastPathsEnabled,
  treeDispose,
  treeFlatten,
  treeMap,
  valueAndGrad,
} from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { AdafacMLPLOpt } from './adafac-mlp-lopt.js';
import { LearnableAdam, LearnableSGDM } from './learnable-hparams.js';
import type { LearnedOptimizer } from './learned-optimizer.js';
import { MLPLOpt } from './mlp-lopt.js';
import { NNAdam } from './nn-adam.js';
import { stackedCounts } from './stacked-trees.js';
import { jitter } from './test-tasks.js';
import type { StackedOptState } from './vectorized-optimizer.js';

type Params = Record<string, tf.Tensor>;
type Vectorized<T> = LearnedOptimizer<T>;
const K = 3;
const STEPS = 3;

function makeParams(k: number): Params {
  const ks = random.split(random.PRNGKey(10 + k), 4);
  return {
    a: random.normal(ks[0]!, [4, 3]),
    b: random.normal(ks[1]!, [3]),
    c: random.normal(ks[2]!, [2, 3, 4]),
    d: tf.scalar(0.7 - 0.1 * k),
    e: random.normal(ks[3]!, [5, 2]),
  };
}
function makeGrads(step: number, k: number, params: Params): Params {
  return tf.tidy(() => {
    const out: Params = {};
    for (const [j, [name, p]] of Object.entries(params).entries()) {
      out[name] = tf.mul(random.normal(random.PRNGKey(1000 * step + 100 * k + j), p.shape), 1 + k);
    }
    out.a = tf.mul(out.a!, tf.tensor2d([[1], [1], [0], [1]]));
    return out;
  });
}
const stack = <T>(trees: T[]): T => treeMap((...xs: tf.Tensor[]) => tf.stack(xs), trees[0], ...trees.slice(1)) as T;
/** K optimizer states stacked as the vectorized optimizers keep them. */
function stackStates(states: OptState[]): StackedOptState {
  const { iteration, ...rest } = stack(states);
  return { ...rest, iteration: stackedCounts(iteration) };
}
const leavesOf = (t: unknown) => treeFlatten(t as PyTree<unknown>)[0] as tf.Tensor[];
/** Frees the tensors of `old` that `next` does not share. */
function release(old: unknown, next: unknown) {
  const keep = new Set(leavesOf(next));
  for (const l of leavesOf(old)) if (!keep.has(l)) l.dispose();
}

function expectClose(a: tf.Tensor, b: tf.Tensor, what: string, tol = 1e-5) {
  expect(a.shape, what).toEqual(b.shape);
  const x = a.dataSync();
  const y = b.dataSync();
  let worst = 0;
  x.forEach((v, i) => {
    worst = Math.max(worst, Math.abs(v - y[i]!) / (1e-6 + Math.abs(y[i]!)));
  });
  expect(worst, what).toBeLessThanOrEqual(tol);
}

const cases: [string, () => Vectorized<unknown>][] = [
  ['LearnableAdam', () => new LearnableAdam({ initialLr: 1e-2 }) as Vectorized<unknown>],
  ['MLPLOpt', () => new MLPLOpt({ stepMult: 0.1 }) as Vectorized<unknown>],
  ['AdafacMLPLOpt', () => new AdafacMLPLOpt({ stepMult: 0.1 }) as Vectorized<unknown>],
  // The default: per problem, then stacked.
  ['LearnableSGDM (default)', () => new LearnableSGDM(1e-2) as Vectorized<unknown>],
  ['NNAdam (default)', () => new NNAdam() as Vectorized<unknown>],
];

describe.each(cases)('%s.vectorizedOptFn', (_name, make) => {
  // Distinct thetas per problem (ES perturbations), off the exact zeros of an init.
  const thetasOf = (lopt: Vectorized<unknown>) =>
    Array.from({ length: K }, (_, k) => {
      const t0 = lopt.init(random.PRNGKey(k));
      const t = jitter(t0, random.PRNGKey(50 + k), 0.05);
      treeDispose(t0);
      return t;
    });

  it('gives the states of K separate optFn(theta_k) updates', () => {
    const lopt = make();
    const thetas = thetasOf(lopt);
    const opts = thetas.map((t) => lopt.optFn(t, true));
    const start = tf.memory().numTensors;
    const params = Array.from({ length: K }, (_, k) => makeParams(k));
    let single: OptState[] = params.map((p, k) => opts[k]!.init(p, { numSteps: 20 }));
    const vec = lopt.vectorizedOptFn(thetas);
    let stacked = stackStates(single);
    // The vectorized init builds the stacked layout of the per-problem states.
    const stackedParams = stack(params);
    const vInit = vec.init(stackedParams, { numSteps: 20 });
    const a = leavesOf(vInit);
    const b = leavesOf(stacked);
    expect(a.length).toBe(b.length);
    a.forEach((x, i) => expectClose(x, b[i]!, `init leaf ${i}`, 0));
    treeDispose(vInit, stackedParams);
    for (let step = 0; step < STEPS; step++) {
      const grads = single.map((s, k) => makeGrads(step, k, s.params as Params));
      const nextSingle = single.map((s, k) => opts[k]!.update(s, grads[k]!));
      const g = stack(grads);
      const nextStacked = vec.update(stacked, g);
      const want = leavesOf(stack(nextSingle));
      const got = leavesOf(nextStacked);
      expect(got.length).toBe(want.length);
      got.forEach((x, i) => {
        expect(x.dtype, `step ${step} leaf ${i}`).toBe(want[i]!.dtype);
        expectClose(x, want[i]!, `step ${step} leaf ${i}`);
      });
      treeDispose(want, grads, g);
      single.forEach((s, k) => release(s, nextSingle[k]));
      release(stacked, nextStacked);
      single = nextSingle;
      stacked = nextStacked;
    }
    // The parameters moved (the comparison is not between two unchanged states).
    const moved = tf.tidy(() => {
      const first = stack(Array.from({ length: K }, (_, k) => makeParams(k)));
      return tf.max(tf.abs(tf.sub((stacked.params as Params).c!, first.c!))).dataSync()[0]!;
    });
    expect(moved).toBeGreaterThan(1e-4);
    for (const s of single) release(s, {});
    release(stacked, {});
    expect(tf.memory().numTensors).toBe(start);
    treeDispose(thetas);
  });

  it('has the meta-gradients of K separate updates', () => {
    const lopt = make();
    const thetas = thetasOf(lopt);
    const params = Array.from({ length: K }, (_, k) => makeParams(k));
    const targets = params.map((p) => treeMap((x) => tf.mul(tf.onesLike(x), 0.3), p) as Params);
    // Loss of problem k after two updates: sum of squared distances to a target.
    const lossOf = (p: Params, k: number) =>
      tf.addN(Object.keys(p).map((n) => tf.sum(tf.square(tf.sub(p[n]!, targets[k]![n]!)))));
    const separate = (ths: unknown[]) =>
      tf.addN(
        ths.map((t, k) => {
          const o = lopt.optFn(t, true);
          let s = o.init(params[k]!, { numSteps: 20 });
          for (let step = 0; step < 2; step++) s = o.update(s, makeGrads(step, k, s.params as Params));
          return lossOf(s.params as Params, k);
        }),
      ) as tf.Scalar;
    const together = (ths: unknown[]) => {
      const o = lopt.vectorizedOptFn(ths);
      let s = o.init(stack(params), { numSteps: 20 });
      for (let step = 0; step < 2; step++) {
        const ps = Array.from(
          { length: K },
          (_, k) => treeMap((x) => tf.squeeze(tf.slice(x, [k], [1]), [0]), s.params) as Params,
        );
        s = o.update(s, stack(ps.map((p, k) => makeGrads(step, k, p))));
      }
      const ps = Array.from(
        { length: K },
        (_, k) => treeMap((x) => tf.squeeze(tf.slice(x, [k], [1]), [0]), s.params) as Params,
      );
      return tf.addN(ps.map((p, k) => lossOf(p, k))) as tf.Scalar;
    };
    const [l1, g1] = valueAndGrad(separate)(thetas);
    const [l2, g2] = valueAndGrad(together)(thetas);
    expectClose(l2, l1, 'meta-loss');
    const a = leavesOf(g1);
    const b = leavesOf(g2);
    expect(b.length).toBe(a.length);
    let norm = 0;
    a.forEach((x, i) => {
      expect(Array.from(b[i]!.dataSync()).every(Number.isFinite)).toBe(true);
      norm += tf.tidy(() => tf.sum(tf.square(x)).dataSync()[0]!);
    });
    expect(norm).toBeGreaterThan(0);
    // Compared against the overall scale: single entries may be summed in another order.
    const scale = Math.sqrt(norm);
    a.forEach((x, i) => {
      const d = tf.tidy(() => tf.max(tf.abs(tf.sub(x, b[i]!))).dataSync()[0]!);
      expect(d, `meta-gradient leaf ${i}`).toBeLessThan(1e-4 * scale);
    });
    treeDispose(l1, l2, g1, g2, thetas, params, targets);
  });

  it('rejects states of another number of problems', () => {
    const lopt = make();
    const thetas = thetasOf(lopt);
    const vec = lopt.vectorizedOptFn(thetas.slice(0, 2));
    const params = stack([makeParams(0), makeParams(1), makeParams(2)]);
    const state = lopt.vectorizedOptFn(thetas).init(params);
    expect(() => vec.update(state, params)).toThrow(/2 problems|problems stacked/);
    treeDispose(thetas, params, state);
  });
});

const stepPaths: [string, () => Vectorized<unknown>][] = [
  ['AdafacMLPLOpt', () => new AdafacMLPLOpt({ stepMult: 0.1 }) as Vectorized<unknown>],
  ['MLPLOpt', () => new MLPLOpt({ stepMult: 0.1 }) as Vectorized<unknown>],
];

describe.each(stepPaths)('%s K-problem step paths', (name, make) => {
  // The K step is the learned optimizer's single-problem step op derived over a leading
  // axis: the fused kernel's arithmetic for every problem without a tape, the stacked
  // plain ops under one, the single-problem reference per problem with fast paths off.
  // All three give the same state.
  it('agree with each other, and the counters say which ran', () => {
    const lopt = make();
    const thetas = Array.from({ length: K }, (_, k) => {
      const t0 = lopt.init(random.PRNGKey(k));
      const t = jitter(t0, random.PRNGKey(50 + k), 0.05);
      treeDispose(t0);
      return t;
    });
    const start = tf.memory().numTensors;
    const vec = lopt.vectorizedOptFn(thetas);
    const params = tf.tidy(() => stack(Array.from({ length: K }, (_, k) => makeParams(k))));
    const state = vec.init(params, { numSteps: 20 });
    const grads = tf.tidy(() => stack(Array.from({ length: K }, (_, k) => makeGrads(0, k, makeParams(k)))));
    const run = (mode: 'fast' | 'tape' | 'off'): { values: Float32Array[]; count: { fast: number; plain: number } } => {
      const before = setFastPathsEnabled(mode !== 'off');
      resetFastPathCounts();
      try {
        let values: Float32Array[] = [];
        const once = () => {
          values = leavesOf(vec.update(state, grads)).map((x) => x.dataSync() as Float32Array);
        };
        if (mode === 'tape') {
          // A gradient tape records around the update (as in truncated backprop).
          const [v, g] = valueAndGrad((p: Params) =>
            tf.tidy(() => {
              const next = vec.update({ ...state, params: p }, grads);
              values = leavesOf(next).map((x) => x.dataSync() as Float32Array);
              return tf.sum((next.params as Params).a!) as tf.Scalar;
            }),
          )(params as Params);
          treeDispose(v, g);
        } else
          tf.tidy(() => {
            once();
          });
        return { values, count: fastPathCounts()[`${name}.step.stacked`]! };
      } finally {
        setFastPathsEnabled(before);
      }
    };
    const fast = run('fast');
    const tape = run('tape');
    const off = run('off');
    if (fastPathsActive()) {
      expect(fast.count).toEqual({ fast: 1, plain: 0 });
      expect(tape.count).toEqual({ fast: 1, plain: 0 });
    }
    expect(off.count).toEqual({ fast: 0, plain: 1 });
    for (const other of [tape, off]) {
      expect(other.values.length).toBe(fast.values.length);
      other.values.forEach((v, i) => {
        const w = fast.values[i]!;
        v.forEach((x, j) => expect(Math.abs(x - w[j]!)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(w[j]!))));
      });
    }
    treeDispose(state, grads, params);
    expect(tf.memory().numTensors).toBe(start);
    treeDispose(thetas);
  });
});
