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

export default [learnedStep('AdafacMLPLOpt', () => new AdafacMLPLOpt()), learnedStep('MLPLOpt', () => new MLPLOpt())];
