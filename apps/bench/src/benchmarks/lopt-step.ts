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
 * 10-50 Adam steps).
 */
function learnedStep(name: string, make: () => LearnedOptimizer<unknown>): RatioCase {
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
        dispose: () => treeDispose(ls, as, params, grads, theta),
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

export default [learnedStep('AdafacMLPLOpt', () => new AdafacMLPLOpt()), mlpLOptFloor];
