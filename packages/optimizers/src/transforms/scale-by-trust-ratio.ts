import * as tf from '@tensorflow/tfjs-core';
import { checkOptionKeys, optionKeys } from '../checks.js';
import type { Hyperparam } from '../hyperparams.js';
import { safeNorm } from '../numerics.js';
import { type EmptyState, type GradientTransformation, requireParams } from '../transform.js';
import { mapLike } from '../tree-ops.js';

/** Options of `scaleByTrustRatio` (optax's defaults). */
export interface ScaleByTrustRatioOptions {
  /** Norms below this are raised to it (default 0). */
  minNorm?: Hyperparam;
  /** Multiplies the ratio (default 1). */
  trustCoefficient?: Hyperparam;
  /** Added to the update norm (default 0). */
  eps?: Hyperparam;
}

/**
 * Scales each leaf's update by `trustCoefficient * |param| / (|update| + eps)` (optax's
 * `scale_by_trust_ratio`, as in LARS and LAMB); the ratio is 1 where either norm is 0.
 */
export function scaleByTrustRatio(opts: ScaleByTrustRatioOptions = {}): GradientTransformation<EmptyState> {
  checkOptionKeys(
    'scaleByTrustRatio',
    opts,
    optionKeys<ScaleByTrustRatioOptions>({ minNorm: true, trustCoefficient: true, eps: true }),
  );
  const { minNorm = 0, trustCoefficient = 1, eps = 0 } = opts;
  return {
    init: () => ({}),
    update: (updates, state, params) => {
      const ps = requireParams('scaleByTrustRatio', params);
      const out = mapLike(
        (u, p) => {
          const pn = safeNorm(p, minNorm);
          const un = safeNorm(u, minNorm);
          const zero = tf.logicalOr(tf.equal(pn, 0), tf.equal(un, 0));
          // The denominator is replaced where the ratio is not used, so that no inf/NaN
          // reaches the gradient through the unselected branch.
          const den = tf.where(zero, tf.onesLike(un), tf.add(un, eps));
          const ratio = tf.div(tf.mul(pn, trustCoefficient), den);
          return tf.mul(u, tf.where(zero, tf.onesLike(ratio), ratio));
        },
        updates,
        ps,
      );
      return [out, state];
    },
  };
}
