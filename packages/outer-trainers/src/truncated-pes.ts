import type { PRNGKey } from '@lopt/pytree';
import { tidy, treeDispose, treeFlatten, treeMap, treeUnflatten } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { antitheticUnroll } from './antithetic-unroll.js';
import { vectorSamplePerturbations, weightedMeanOfStacked } from './common.js';
import { type EsGradOptions, processDelta } from './es-grad.js';
import {
  GradientEstimator,
  type GradientEstimatorOut,
  type Metrics,
  type UnrollInfo,
  type WorkerWeights,
} from './gradient-estimator.js';
import { KeySequence } from './tree-utils.js';
import { checkUnrollLength } from './truncated-es.js';
import type { TruncatedStep } from './truncated-step.js';

/**
 * The state of `TruncatedPES` (learned_optimization's `PESWorkerState`): the inner
 * states of the positive and negative unrolls and, per problem, the sum of the
 * perturbations applied since the problem's truncation began (leaves `[K, ...]`).
 */
export interface PESWorkerState<Theta = unknown, S = unknown> {
  /** Inner states of the positively perturbed problems. */
  posState: S;
  /** Inner states of the negatively perturbed problems. */
  negState: S;
  /** Accumulated perturbations per problem, stacked: leaves `[K, ...theta leaf]`. */
  accumulator: Theta;
}

/** Options of `TruncatedPES`. */
export interface TruncatedPESOptions {
  /** Inner steps per estimate (default 10). */
  truncLength?: number;
  /** Perturbation standard deviation (default 0.01). */
  std?: number;
  /** Inner steps per unroll call; must divide `truncLength` (default 10). */
  stepsPerJit?: number;
  /** Clip each problem's loss difference to `[-clipLossDiff, clipLossDiff]`. */
  clipLossDiff?: number;
  /** Use `sign(mean delta) * this` instead of the loss differences. */
  signDeltaLossScalar?: number;
}

/**
 * Persistent evolution strategies (learned_optimization's `TruncatedPES`; Vicol et al.,
 * 2021): truncated antithetic unrolls whose ES weights are the perturbations
 * accumulated over the whole trajectory so far, which removes truncation bias. A
 * problem's accumulator restarts with the new perturbation when its unroll ends.
 */
export class TruncatedPES<Theta = unknown, S = unknown> extends GradientEstimator<Theta, PESWorkerState<Theta, S>> {
  /** Inner steps per estimate. */
  readonly truncLength: number;
  /** Perturbation standard deviation. */
  readonly std: number;
  /** Inner steps per unroll call. */
  readonly stepsPerJit: number;
  private readonly es: EsGradOptions;

  /** @param truncatedStep the inner problems. */
  constructor(
    readonly truncatedStep: TruncatedStep<Theta, S>,
    opts: TruncatedPESOptions = {},
  ) {
    super();
    this.truncLength = opts.truncLength ?? 10;
    this.std = opts.std ?? 0.01;
    this.stepsPerJit = opts.stepsPerJit ?? 10;
    checkUnrollLength(this.truncLength, this.stepsPerJit, 'TruncatedPES');
    this.es = { std: this.std, clipLossDiff: opts.clipLossDiff, signDeltaLossScalar: opts.signDeltaLossScalar };
  }

  /** The estimator's first state. */
  initWorkerState(workerWeights: WorkerWeights<Theta>, key: PRNGKey): PESWorkerState<Theta, S> {
    const posState = this.truncatedStep.initStepState(workerWeights.theta, workerWeights.outerState, key);
    const K = this.truncatedStep.numTasks;
    const accumulator = treeMap((x) => tf.zeros([K, ...x.shape]), workerWeights.theta) as Theta;
    return { posState, negState: posState, accumulator };
  }

  /** One gradient estimate from `state`, with metrics (inputs are not disposed). */
  computeGradientEstimate(
    workerWeights: WorkerWeights<Theta>,
    key: PRNGKey,
    state: PESWorkerState<Theta, S>,
  ): [GradientEstimatorOut<Theta, PESWorkerState<Theta, S>>, Metrics] {
    const K = this.truncatedStep.numTasks;
    const rng = new KeySequence(key);
    const { theta, outerState } = workerWeights;
    if (!state || typeof state !== 'object' || !('posState' in state) || !('accumulator' in state)) {
      throw new Error('TruncatedPES: the state is not a PESWorkerState (posState, negState, accumulator)');
    }
    checkAccumulator(state.accumulator, theta, K);
    const pert = vectorSamplePerturbations(theta, rng.next(), this.std, K);
    const start = { posState: state.posState, negState: state.negState, outerState };
    const chunks = { numChunks: this.truncLength / this.stepsPerJit, stepsPerJit: this.stepsPerJit };
    const u = antitheticUnroll(this.truncatedStep, pert, rng, start, chunks);
    const { meanLoss, grad, finished, deltaMean } = pesGrad(u.posInfo, u.negInfo, state.accumulator, pert.pos, this.es);
    // Problems whose unroll ended restart their accumulator with the perturbation
    // that the new trajectory has seen; the others keep adding.
    const accumulator = tidy(() => {
      const [acc, def] = treeFlatten(state.accumulator as never);
      const [pos] = treeFlatten(pert.pos as never);
      const fin = tf.tensor1d(
        finished.map((f) => (f ? 1 : 0)),
        'bool',
      );
      return treeUnflatten(
        def,
        (acc as tf.Tensor[]).map((a, j) => {
          const e = (pos as tf.Tensor[])[j]!;
          const shape = [K, ...a.shape.slice(1).map(() => 1)];
          return tf.where(tf.broadcastTo(tf.reshape(fin, shape), a.shape), e, tf.add(a, e));
        }),
      );
    }) as Theta;
    treeDispose(pert.pos, pert.pTheta, pert.nTheta);
    return [
      {
        meanLoss,
        grad,
        unrollState: { posState: u.posState, negState: u.negState, accumulator },
        unrollInfo: u.posInfo,
      },
      { unrollLength: this.truncLength, deltaLossMean: deltaMean },
    ];
  }
}

function checkAccumulator(acc: unknown, theta: unknown, K: number): void {
  const a = treeFlatten(acc as never)[0] as tf.Tensor[];
  const t = treeFlatten(theta as never)[0] as tf.Tensor[];
  const ok = a.length === t.length && a.every((x, i) => x.shape.join() === [K, ...t[i]!.shape].join());
  if (!ok) {
    throw new Error(
      `TruncatedPES: the state's accumulator does not match theta with ${K} tasks (a state of another learned optimizer or numTasks?)`,
    );
  }
}

/**
 * The PES estimate (the reference's `compute_pes_grad`). For problem k, loss
 * differences of steps before its truncation ended weigh the accumulated perturbations
 * (old sum + this one); steps from the end on weigh this estimate's perturbation only.
 */
export function pesGrad<Theta>(
  p: UnrollInfo,
  n: UnrollInfo,
  accumulator: Theta,
  pos: Theta,
  es: EsGradOptions,
): { meanLoss: number; grad: Theta; finished: boolean[]; deltaMean: number } {
  const T = p.loss.length;
  const K = p.loss[0]!.length;
  const factor = 1 / (2 * es.std * es.std);
  const lastCoeff: number[] = [];
  const newCoeff: number[] = [];
  const finished: boolean[] = [];
  let meanLoss = 0;
  let deltaAbs = 0;
  for (let k = 0; k < K; k++) {
    const deltas: number[] = [];
    for (let t = 0; t < T; t++)
      deltas.push(processDelta(p.loss[t]![k]! - n.loss[t]![k]!, { std: es.std, clipLossDiff: es.clipLossDiff }));
    const mask = p.iteration.map((row) => row[k] !== 0);
    if (es.signDeltaLossScalar !== undefined) {
      // One sign per problem, from its mean masked difference.
      const s = Math.sign(deltas.reduce((a, d, t) => a + (mask[t] ? d : 0), 0) / T);
      deltas.fill(s * es.signDeltaLossScalar);
    }
    let den = 0;
    let last = 0;
    let fresh = 0;
    let hasFinished = false;
    let pl = 0;
    let nl = 0;
    for (let t = 0; t < T; t++) {
      if (p.isDone[t]![k]) hasFinished = true;
      if (!mask[t]) continue;
      den += 1;
      if (hasFinished) fresh += deltas[t]!;
      else last += deltas[t]!;
      pl += p.loss[t]![k]!;
      nl += n.loss[t]![k]!;
      deltaAbs += Math.abs(deltas[t]!);
    }
    const d = Math.max(den, 1);
    lastCoeff.push((last / d) * factor);
    newCoeff.push((fresh / d) * factor);
    finished.push(hasFinished);
    meanLoss += (pl / d + nl / d) / 2 / K;
  }
  const grad = tidy(() => {
    const withAcc = treeMap((a, e) => tf.add(a, e), accumulator, pos);
    const g1 = weightedMeanOfStacked(withAcc, lastCoeff);
    const g2 = weightedMeanOfStacked(pos, newCoeff);
    return treeMap((a, b) => tf.add(a, b), g1, g2);
  }) as Theta;
  return { meanLoss, grad, finished, deltaMean: deltaAbs / (T * K) };
}
