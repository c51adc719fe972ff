import { Adam } from '@lopt/optimizers';
import { random } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { RatioCase } from '../harness.js';
import { MILLION_PARAM_SHAPES } from '../million-params.js';

const SHAPES = MILLION_PARAM_SHAPES;

let instance = 0;

/**
 * One Adam update of a 1M-parameter, 10-leaf pytree: lopt's pure `Adam.update` (a new
 * state each step, the old one disposed) against tf.train.adam's in-place
 * `applyGradients` on tf.Variables of the same shapes, with the same gradients.
 */
export default {
  name: 'Adam step, 1M params in 10 leaves',
  goal: '<= 1.0x tf.train.adam',
  goalRatio: 1.0,
  peerName: 'tf.train.adam',
  // Steps are short and the machines noisy: more pairs give a steadier median ratio.
  setup: async () => {
    const id = instance++;
    const keys = random.split(random.PRNGKey(id), 2 * SHAPES.length);
    const params: Record<string, tf.Tensor> = {};
    const grads: Record<string, tf.Tensor> = {};
    SHAPES.forEach((shape, i) => {
      params[`leaf${i}`] = random.normal(keys[2 * i]!, shape);
      grads[`leaf${i}`] = tf.mul(random.normal(keys[2 * i + 1]!, shape), 1e-2);
    });

    const adam = new Adam(1e-3);
    let state = adam.init(params);

    const variables = Object.entries(params).map(([k, p]) => tf.variable(p, true, `adam_step_bench_${id}_${k}`));
    const named = Object.entries(grads).map(([k, g]) => ({ name: `adam_step_bench_${id}_${k}`, tensor: g }));
    const peerOpt = tf.train.adam(1e-3, 0.9, 0.999, 1e-8);

    return {
      lopt: () => {
        const next = adam.update(state, grads);
        tf.dispose(state as unknown as tf.TensorContainer);
        state = next;
      },
      peer: () => {
        peerOpt.applyGradients(named);
      },
      dispose: () => {
        tf.dispose(state as unknown as tf.TensorContainer);
        tf.dispose(Object.values(grads));
        tf.dispose(variables);
        peerOpt.dispose();
      },
    };
  },
} satisfies RatioCase;
