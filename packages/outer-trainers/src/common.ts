import { type PRNGKey, random, tidy, treeFlatten, treeUnflatten } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { UnrollInfo } from './gradient-estimator.js';
import type { OuterState } from './outer-state.js';
import { disposeExcept } from './tree-utils.js';
import type { TruncatedStep, TruncatedUnrollOut } from './truncated-step.js';

/** Antithetic ES perturbations of theta for K problems. */
export interface VectorPerturbations<Theta> {
  /** The perturbations, stacked: each leaf is `[K, ...theta leaf shape]`. */
  pos: Theta;
  /** `theta + pos[k]` for each problem. */
  pTheta: Theta[];
  /** `theta - pos[k]` for each problem. */
  nTheta: Theta[];
}

/** Gaussian noise shaped like `theta`, standard deviation `std` (one key per leaf). */
export function samplePerturbations<Theta>(theta: Theta, key: PRNGKey, std: number): Theta {
  const [leaves, def] = treeFlatten(theta as never);
  const keys = leaves.length > 0 ? random.split(key, leaves.length) : [];
  return tidy(() =>
    treeUnflatten(
      def,
      (leaves as tf.Tensor[]).map((l, i) => tf.mul(random.normal(keys[i]!, l.shape), std)),
    ),
  ) as Theta;
}

/** K antithetic perturbation pairs (the reference's `vector_sample_perturbations`). */
export function vectorSamplePerturbations<Theta>(
  theta: Theta,
  key: PRNGKey,
  std: number,
  numSamples: number,
): VectorPerturbations<Theta> {
  const keys = random.split(key, numSamples);
  const posList = keys.map((k) => samplePerturbations(theta, k, std));
  const [thetaLeaves, def] = treeFlatten(theta as never);
  const out = tidy(() => {
    const flat = posList.map((p) => treeFlatten(p as never)[0] as tf.Tensor[]);
    const pos = (thetaLeaves as tf.Tensor[]).map((_, j) => tf.stack(flat.map((f) => f[j]!)));
    const p = flat.map((f) => (thetaLeaves as tf.Tensor[]).map((t, j) => tf.add(t, f[j]!)));
    const n = flat.map((f) => (thetaLeaves as tf.Tensor[]).map((t, j) => tf.sub(t, f[j]!)));
    return { pos, p, n };
  });
  for (const p of posList) disposeExcept(p);
  return {
    pos: treeUnflatten(def, out.pos) as Theta,
    pTheta: out.p.map((l) => treeUnflatten(def, l) as Theta),
    nTheta: out.n.map((l) => treeUnflatten(def, l) as Theta),
  };
}

/** Disposes a list of unroll outputs. */
export function disposeOuts(ys: TruncatedUnrollOut[]): void {
  for (const y of ys) y.loss.dispose();
}

/**
 * Runs `unrollLength` steps of `truncatedStep` from `state` (the reference's
 * `truncated_unroll`). The input state is left alone; intermediate states are freed.
 */
export function truncatedUnroll<Theta, S, D>(
  truncatedStep: TruncatedStep<Theta, S, D>,
  unrollLength: number,
  thetaIsVector: boolean,
  theta: Theta | Theta[],
  key: PRNGKey,
  state: S,
  datas: D[],
  outerState: OuterState,
  overrideNumSteps?: number,
): [S, TruncatedUnrollOut[]] {
  if (datas.length !== unrollLength) {
    throw new Error(`truncatedUnroll: expected data for ${unrollLength} steps, got ${datas.length}`);
  }
  const keys = random.split(key, unrollLength);
  const ys: TruncatedUnrollOut[] = [];
  let s = state;
  for (let i = 0; i < unrollLength; i++) {
    const [next, out] = truncatedStep.unrollStep(theta, s, keys[i]!, datas[i]!, outerState, {
      thetaIsVector,
      overrideNumSteps,
    });
    if (s !== state) disposeExcept(s, next, state);
    s = next;
    ys.push(out);
  }
  return [s, ys];
}

/** Reads unroll outputs into plain numbers, `[steps][K]`. */
export function unrollInfoOf(ys: TruncatedUnrollOut[]): UnrollInfo {
  return {
    loss: ys.map((y) => Array.from(y.loss.dataSync())),
    iteration: ys.map((y) => y.iteration.slice()),
    taskParam: ys.map((y) => y.taskParam.slice()),
    isDone: ys.map((y) => y.isDone.slice()),
  };
}

/** The masked mean over steps of each problem's loss, `[K]` (problems with no unmasked step give 0). */
export function maskedMeanPerTask(
  loss: number[][],
  mask: boolean[][],
  weight?: (t: number, k: number) => number,
): number[] {
  const K = loss[0]?.length ?? 0;
  const out: number[] = [];
  for (let k = 0; k < K; k++) {
    let num = 0;
    let den = 0;
    for (let t = 0; t < loss.length; t++) {
      if (!mask[t]![k]) continue;
      den += 1;
      num += loss[t]![k]! * (weight ? weight(t, k) : 1);
    }
    out.push(den > 0 ? num / den : 0);
  }
  return out;
}

/**
 * `mean_k c[k] * pos[k]`: the ES combination of per-problem coefficients with stacked
 * perturbations (leaves `[K, ...]`).
 */
export function weightedMeanOfStacked<Theta>(pos: Theta, coeffs: number[]): Theta {
  const [leaves, def] = treeFlatten(pos as never);
  return tidy(() => {
    const c = tf.tensor1d(coeffs);
    return treeUnflatten(
      def,
      (leaves as tf.Tensor[]).map((l) => {
        const shape = [coeffs.length, ...l.shape.slice(1).map(() => 1)];
        return tf.mean(tf.mul(l, tf.reshape(c, shape)), 0);
      }),
    );
  }) as Theta;
}

/** `nan -> 0`, `+-inf -> 0` (the reference's `nan_to_num` on loss differences). */
export function finiteOrZero(x: number): number {
  return Number.isFinite(x) ? x : 0;
}
