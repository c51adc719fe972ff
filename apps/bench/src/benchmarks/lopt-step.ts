import { AdafacMLPLOpt, type LearnedOptimizer, MLPLOpt } from '@lopt/learned';
import { Adam, type Optimizer, type OptState } from '@lopt/optimizers';
import { random, tidy, treeDispose } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { RatioCase } from '../harness.js';
import { MILLION_PARAM_SHAPES } from '../million-params.js';

const SHAPES = MILLION_PARAM_SHAPES;

/**
 * One update of a learned optimizer on a 1M-parameter, 10-leaf pytree against one update
 * of lopt's `Adam` on the same pytree and gradients (a naive learned-optimizer step costs
 * 10-50 Adam steps). With `flops` (the step's arithmetic), the row also prints the step's
 * arithmetic floor: those FLOPs at the throughput of one large matmul on the backend,
 * timed right after the blocks (so under the same load, though not interleaved).
 */
function learnedStep(name: string, make: () => LearnedOptimizer<unknown>, flops?: number): RatioCase {
  return {
    name: `${name} step, 1M params (vs lopt Adam)`,
    goal: '<= 3x lopt Adam step',
    goalRatio: 3,
    peerName: 'lopt Adam',
    itersPerBlock: 10,
    setup: async () => {
      const keys = random.split(random.PRNGKey(7), 2 * SHAPES.length + 1);
      const params: Record<string, tf.Tensor> = {};
      const grads: Record<string, tf.Tensor> = {};
      SHAPES.forEach((shape, i) => {
        params[`leaf${i}`] = random.normal(keys[2 * i]!, shape);
        grads[`leaf${i}`] = tf.mul(random.normal(keys[2 * i + 1]!, shape), 1e-2);
      });
      const lopt = make();
      const theta = lopt.init(keys[keys.length - 1]!);
      const opt: Optimizer = lopt.optFn(theta);
      const adam = new Adam(1e-3);
      const clone = () => Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.clone(p)]));
      let ls: OptState<Record<string, tf.Tensor>> = opt.init(clone(), { numSteps: 1000 });
      let as: OptState<Record<string, tf.Tensor>> = adam.init(clone());
      const floor = flops === undefined ? undefined : matmulOfFlops(flops);
      return {
        lopt: () => {
          const next = tidy(() => opt.update(ls, grads));
          treeDispose(ls);
          ls = next;
          ls.params.leaf0!.dataSync();
        },
        peer: () => {
          const next = adam.update(as, grads);
          treeDispose(as);
          as = next;
          as.params.leaf0!.dataSync();
        },
        dispose: () => {
          treeDispose(ls, as, params, grads, theta);
          floor?.dispose();
        },
        ...(floor && flops !== undefined
          ? {
              note: ({ loptMs, peerMs }: { loptMs: number; peerMs: number }) => {
                const ms = floor.time();
                return (
                  `floor = ${(flops / 1e9).toFixed(2)} GFLOP a step = ${ms.toFixed(1)} ms at ` +
                  `${(flops / ms / 1e6).toFixed(1)} GFLOP/s (matmul); step ${(loptMs / ms).toFixed(1)}x floor, ` +
                  `Adam ${(peerMs / ms).toFixed(1)}x floor`
                );
              },
            }
          : {}),
      };
    },
  };
}

/**
 * `MLPLOpt`'s arithmetic per step: per parameter, its MLP (8 normalised inputs -> 32 ->
 * 32 -> 2; the eleven step embeddings are the same for every parameter, so their share of
 * the first layer is computed once per step) as multiply-adds, biases and ReLUs.
 */
export function mlpLOptFlops(n: number, hidden = 32, inputs = 8): number {
  const macs = inputs * hidden + hidden * hidden + hidden * 2;
  return n * (2 * macs + (hidden + hidden + 2) + 2 * hidden);
}

/**
 * One large matmul (`[1024, 1024] @ [1024, c]`) of `flops` FLOPs, the best throughput the
 * backend's matmul reaches; `time()` is the median of five runs in milliseconds.
 */
function matmulOfFlops(flops: number): { time: () => number; dispose: () => void } {
  const cols = Math.max(1, Math.round(flops / (2 * 1024 * 1024)));
  const a = random.normal(random.PRNGKey(1), [1024, 1024]);
  const b = random.normal(random.PRNGKey(2), [1024, cols]);
  const once = () => {
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
  };
  return {
    time: () => {
      once();
      const ms: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        once();
        ms.push(performance.now() - t0);
      }
      return ms.sort((x, y) => x - y)[2]!;
    },
    dispose: () => tf.dispose([a, b]),
  };
}

/**
 * `AdafacMLPLOpt`'s arithmetic per step with its default sizes (3 momentum, 1 RMS and 3
 * Adafactor decays; MLP 39 -> 4 -> 4 -> 2), counting each add, multiply, divide, square
 * root, max and exponential as one FLOP, as its fused step computes it:
 *
 * - every element: its second moment (4) and momenta (9), the 1/sqrt(rms) feature and the
 *   momenta scaled by it (6), the normaliser's sums of squares of its own features (2 a
 *   feature), its own features through the first layer (8 a feature), the first layer's
 *   shift and ReLU (8), the 4 -> 4 and 4 -> 2 layers with biases and ReLU (58) and the
 *   step `p - dir * exp(mag * c) * s` (4);
 * - an element of a factored (rank >= 2) tensor: 16 own features; its row and column
 *   sums of g^2 (3), its preconditioner and the preconditioned gradient and momenta (9),
 *   its row's and column's share of the first layer added in (8); the per-row and
 *   per-column work is left out (a few hundred rows against a million elements);
 * - an element of an unfactored tensor: 28 own features; its three accumulators (11) and
 *   their features (30).
 */
export function adafacMLPLOptFlops(shapes: readonly (readonly number[])[]): number {
  const common = 4 + 9 + 6 + 8 + 58 + 4;
  let flops = 0;
  for (const shape of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const perElement = shape.length >= 2 ? common + 10 * 16 + 3 + 9 + 8 : common + 10 * 28 + 11 + 30;
    flops += n * perElement;
  }
  return flops;
}

/**
 * One `MLPLOpt` update on the 1M-parameter pytree against its arithmetic floor: the same
 * number of FLOPs as one large matmul (`[1024, 1024] @ [1024, c]`) on the backend, the
 * best throughput its matmul reaches. Both alternate in blocks like any other pair, so
 * they see the same load.
 */
const mlpLOptFloor: RatioCase = {
  name: 'MLPLOpt step, 1M params (vs its arithmetic floor)',
  goal: '<= 2x the FLOPs at matmul throughput',
  goalRatio: 2,
  peerName: 'its FLOPs as one large matmul',
  itersPerBlock: 10,
  setup: async () => {
    const keys = random.split(random.PRNGKey(7), 2 * SHAPES.length + 1);
    const params: Record<string, tf.Tensor> = {};
    const grads: Record<string, tf.Tensor> = {};
    SHAPES.forEach((shape, i) => {
      params[`leaf${i}`] = random.normal(keys[2 * i]!, shape);
      grads[`leaf${i}`] = tf.mul(random.normal(keys[2 * i + 1]!, shape), 1e-2);
    });
    const lopt = new MLPLOpt();
    const theta = lopt.init(keys[keys.length - 1]!);
    const opt = lopt.optFn(theta);
    let ls: OptState<Record<string, tf.Tensor>> = opt.init(params);
    const cols = Math.round(FLOOR_FLOPS / (2 * 1024 * 1024));
    const a = random.normal(random.PRNGKey(1), [1024, 1024]);
    const b = random.normal(random.PRNGKey(2), [1024, cols]);
    return {
      lopt: () => {
        const next = tidy(() => opt.update(ls, grads));
        treeDispose(ls);
        ls = next;
        ls.params.leaf0!.dataSync();
      },
      peer: () => {
        const c = tf.matMul(a, b);
        c.dataSync();
        c.dispose();
      },
      dispose: () => treeDispose(ls, params, grads, theta, a, b),
    };
  },
  note: ({ peerMs }) =>
    `floor = ${(FLOOR_FLOPS / 1e9).toFixed(2)} GFLOP a step at ${(FLOOR_FLOPS / peerMs / 1e6).toFixed(1)} GFLOP/s (matmul)`,
};

const FLOOR_FLOPS = mlpLOptFlops(SHAPES.reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0));

export default [learnedStep('AdafacMLPLOpt', () => new AdafacMLPLOpt(), adafacMLPLOptFlops(SHAPES)), mlpLOptFloor];
