import { type PyTree, treeFlatten, treeUnflatten } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { checkOptionKeys, optionKeys } from '../checks.js';
import { countAsFloat, type Hyperparam, increment } from '../hyperparams.js';
import { safeRsqrt } from '../numerics.js';
import type { GradientTransformation } from '../transform.js';

/** State of `scaleByFactoredRms`. */
export interface FactoredState {
  /** Updates so far (int32 scalar). */
  count: tf.Scalar;
  /** Per leaf: row statistics of factored leaves (a `[1]` placeholder otherwise). */
  vRow: tf.Tensor[];
  /** Per leaf: column statistics of factored leaves (a `[1]` placeholder otherwise). */
  vCol: tf.Tensor[];
  /** Per leaf: the full second moment of unfactored leaves (a `[1]` placeholder otherwise). */
  v: tf.Tensor[];
}

/** Options of `scaleByFactoredRms` (optax's defaults). */
export interface ScaleByFactoredRmsOptions {
  /** Factor the second moment of matrices (default true). */
  factored?: boolean;
  /** Exponent of the decay schedule `1 - (t + 1)^-decayRate` (default 0.8). */
  decayRate?: Hyperparam;
  /** Step offset of the decay schedule, for fine-tuning (default 0). */
  stepOffset?: number;
  /** Factor only when the two largest dimensions are at least this big (default 128). */
  minDimSizeToFactor?: number;
  /** Added to the squared gradients (default 1e-30). */
  eps?: Hyperparam;
}

/** The two largest axes `[d1, d0]` (d0 the largest) when a leaf is factored, else undefined. */
export function factoredDims(
  shape: readonly number[],
  factored: boolean,
  minDimSizeToFactor: number,
): [number, number] | undefined {
  if (!factored || shape.length < 2) return undefined;
  // A stable argsort, as numpy's, so ties pick the same axes as the reference.
  const sorted = shape.map((n, i) => [n, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const d1 = sorted[sorted.length - 2]!;
  const d0 = sorted[sorted.length - 1]!;
  if (d1[0] < minDimSizeToFactor) return undefined;
  return [d1[1], d0[1]];
}

/**
 * Adafactor's rescaling (optax's `scale_by_factored_rms`, Shazeer & Stern 2018): matrices
 * keep row and column averages of the squared gradient instead of a full second moment.
 * Its inverse square roots keep meta-gradients finite where a moment sits at `eps`
 * (dead units; see `safeRsqrt`).
 */
export function scaleByFactoredRms(opts: ScaleByFactoredRmsOptions = {}): GradientTransformation<FactoredState> {
  checkOptionKeys(
    'scaleByFactoredRms',
    opts,
    optionKeys<ScaleByFactoredRmsOptions>({
      factored: true,
      decayRate: true,
      stepOffset: true,
      minDimSizeToFactor: true,
      eps: true,
    }),
  );
  const { factored = true, decayRate = 0.8, stepOffset = 0, minDimSizeToFactor = 128, eps = 1e-30 } = opts;
  return {
    init: (params) => {
      const [leaves] = treeFlatten(params as PyTree);
      const vRow: tf.Tensor[] = [];
      const vCol: tf.Tensor[] = [];
      const v: tf.Tensor[] = [];
      for (const p of leaves) {
        const dims = factoredDims(p.shape, factored, minDimSizeToFactor);
        if (dims) {
          const [d1, d0] = dims;
          vRow.push(tf.zeros(p.shape.filter((_, i) => i !== d0)));
          vCol.push(tf.zeros(p.shape.filter((_, i) => i !== d1)));
          v.push(tf.zeros([1]));
        } else {
          vRow.push(tf.zeros([1]));
          vCol.push(tf.zeros([1]));
          v.push(tf.zerosLike(p));
        }
      }
      return { count: tf.scalar(0, 'int32'), vRow, vCol, v };
    },
    update: (updates, state) => {
      const [gs, def] = treeFlatten(updates as PyTree);
      // decay_t = 1 - (t + 1)^-decayRate with t = count - stepOffset.
      const t = tf.add(tf.sub(countAsFloat(state.count), stepOffset), 1);
      const decay = tf.sub(1, tf.pow(t, tf.neg(decayRate)));
      const c = tf.sub(1, decay);
      const vRow: tf.Tensor[] = [];
      const vCol: tf.Tensor[] = [];
      const v: tf.Tensor[] = [];
      const out = gs.map((g, j) => {
        const g2 = tf.add(tf.square(g), eps);
        const dims = factoredDims(g.shape, factored, minDimSizeToFactor);
        if (dims) {
          const [d1, d0] = dims;
          const row = tf.add(tf.mul(state.vRow[j]!, decay), tf.mul(tf.mean(g2, d0), c));
          const col = tf.add(tf.mul(state.vCol[j]!, decay), tf.mul(tf.mean(g2, d1), c));
          const reducedD1 = d1 > d0 ? d1 - 1 : d1;
          const rowColMean = tf.mean(row, reducedD1, true);
          const rowFactor = safeRsqrt(tf.div(row, rowColMean));
          const colFactor = safeRsqrt(col);
          vRow.push(row);
          vCol.push(col);
          v.push(tf.zeros([1]));
          return tf.mul(tf.mul(g, tf.expandDims(rowFactor, d0)), tf.expandDims(colFactor, d1));
        }
        const nv = tf.add(tf.mul(state.v[j]!, decay), tf.mul(g2, c));
        vRow.push(tf.zeros([1]));
        vCol.push(tf.zeros([1]));
        v.push(nv);
        return tf.mul(g, safeRsqrt(nv));
      });
      return [treeUnflatten<tf.Tensor, typeof updates>(def, out), { count: increment(state.count), vRow, vCol, v }];
    },
  };
}
