import { Celo2, celo2AdamWLeaves, celo2Theta } from '@lopt/learned';
import { Adam, type Optimizer, type OptState } from '@lopt/optimizers';
import { random, tidy, treeDispose } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { RatioCase } from '../harness.js';
import { MILLION_PARAM_SHAPES } from '../million-params.js';

const SHAPES = MILLION_PARAM_SHAPES;

/**
 * One Celo2 update (published theta, default options) on a 1M-parameter, 10-leaf pytree
 * against one update of lopt's `Adam` on the same pytree and gradients. By Celo2's rule
 * the first and last matrices ([1000, 500], [50, 2000]) and the vectors take AdamW; the
 * three middle matrices (320K parameters) take the learned rule, whose five Newton–Schulz
 * iterations dominate (about 0.85 GFLOP per step).
 */
const celo2Step: RatioCase = {
  name: 'Celo2 step, 1M params in 10 leaves (vs lopt Adam)',
  goal: '<= 4x lopt Adam step',
  goalRatio: 4,
  peerName: 'lopt Adam',
  itersPerBlock: 10,
  blocks: 5,
  setup: async () => {
    const keys = random.split(random.PRNGKey(7), 2 * SHAPES.length);
    const params: Record<string, tf.Tensor> = {};
    const grads: Record<string, tf.Tensor> = {};
    SHAPES.forEach((shape, i) => {
      params[`leaf${i}`] = random.normal(keys[2 * i]!, shape);
      grads[`leaf${i}`] = tf.mul(random.normal(keys[2 * i + 1]!, shape), 1e-2);
    });
    const learned = celo2AdamWLeaves(params).filter((a) => !a).length;
    if (learned !== 3) throw new Error(`expected 3 leaves on Celo2's learned path, got ${learned}`);
    const theta = celo2Theta();
    const opt: Optimizer = new Celo2().optFn(theta);
    const adam = new Adam(1e-3);
    const clone = () => Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.clone(p)]));
    let cs: OptState<Record<string, tf.Tensor>> = opt.init(clone());
    let as: OptState<Record<string, tf.Tensor>> = adam.init(clone());
    return {
      lopt: () => {
        const next = tidy(() => opt.update(cs, grads));
        treeDispose(cs);
        cs = next;
        cs.params.leaf2!.dataSync();
      },
      peer: () => {
        const next = adam.update(as, grads);
        treeDispose(as);
        as = next;
        as.params.leaf2!.dataSync();
      },
      dispose: () => treeDispose(cs, as, params, grads, theta),
    };
  },
};

export default celo2Step;
