import * as tf from '@tensorflow/tfjs-core';
import type { Hyperparam } from './hyperparams.js';
import { increment } from './hyperparams.js';
import type { ScalarOrSchedule } from './schedules/schedule.js';
import type { GradientTransformation } from './transform.js';

/** State of `injectHyperparams`: the count, the current hyperparameters and the inner state. */
export interface InjectHyperparamsState<S> {
  /** Updates so far (int32 scalar). */
  count: tf.Scalar;
  /** The hyperparameters used by the last update (scalars; set them to change them). */
  hyperparams: Record<string, tf.Scalar>;
  /** The inner transformation's state. */
  innerState: S;
}

/**
 * Makes hyperparameters part of the state (optax's `inject_hyperparams`): `factory` builds
 * the transformation from scalar tensors, and each update evaluates schedules at the
 * current count and stores every value in `state.hyperparams`, where it can be read,
 * logged or replaced (fixed values are taken from the state, so replacing them there
 * changes them).
 *
 * @example
 * const tx = injectHyperparams((h) => chain(scaleByAdam({ b1: h.b1 }), scaleByLearningRate(h.learningRate)),
 *   { learningRate: cosineDecay(1e-3, 1000), b1: 0.9 });
 */
export function injectHyperparams<S, K extends string>(
  factory: (hyperparams: Record<K, Hyperparam>) => GradientTransformation<S>,
  hyperparams: Record<K, ScalarOrSchedule>,
): GradientTransformation<InjectHyperparamsState<S>> {
  const names = Object.keys(hyperparams).sort() as K[];
  const evaluate = (count: tf.Tensor, current?: Record<string, tf.Scalar>): Record<K, tf.Scalar> => {
    const out = {} as Record<K, tf.Scalar>;
    for (const k of names) {
      const h = hyperparams[k];
      if (typeof h === 'function') out[k] = toScalar(h(count));
      else out[k] = current?.[k] ?? toScalar(h);
    }
    return out;
  };
  return {
    init: (params) => {
      const count = tf.scalar(0, 'int32');
      const hp = evaluate(count);
      return { count, hyperparams: hp, innerState: factory(hp).init(params) };
    },
    update: (updates, state, params) => {
      for (const k of names) {
        if (!(k in state.hyperparams)) throw new Error(`injectHyperparams: the state has no hyperparameter '${k}'`);
      }
      const hp = evaluate(state.count, state.hyperparams);
      const [u, innerState] = factory(hp).update(updates, state.innerState, params);
      // Values taken from the state are returned as new tensors so old states can be disposed.
      const kept = Object.fromEntries(names.map((k) => [k, hp[k] === state.hyperparams[k] ? tf.clone(hp[k]) : hp[k]]));
      return [u, { count: increment(state.count), hyperparams: kept as Record<K, tf.Scalar>, innerState }];
    },
  };
}

function toScalar(x: Hyperparam): tf.Scalar {
  return (typeof x === 'number' ? tf.scalar(x) : tf.reshape(tf.cast(x, 'float32'), [])) as tf.Scalar;
}
