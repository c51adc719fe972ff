import { disposeOuts, truncatedUnroll, unrollInfoOf, type VectorPerturbations } from './common.js';
import type { UnrollInfo } from './gradient-estimator.js';
import type { OuterState } from './outer-state.js';
import { checkPositiveInt, disposeExcept, type KeySequence } from './tree-utils.js';
import type { TruncatedStep } from './truncated-step.js';

/** Concatenates two unroll infos along the step axis. */
function mergeInfo(a: UnrollInfo, b: UnrollInfo): UnrollInfo {
  return {
    loss: [...a.loss, ...b.loss],
    iteration: [...a.iteration, ...b.iteration],
    taskParam: [...a.taskParam, ...b.taskParam],
    isDone: [...a.isDone, ...b.isDone],
  };
}

/** Where an antithetic pair of unrolls starts. */
export interface AntitheticStart<S> {
  /** Inner states of the positively perturbed problems. */
  posState: S;
  /** Inner states of the negatively perturbed problems (may share tensors with `posState`). */
  negState: S;
  /** The outer training state, given to every step. */
  outerState: OuterState;
}

/** How an antithetic pair of unrolls runs. */
export interface AntitheticUnrollOptions {
  /** Unroll calls to make. */
  numChunks: number;
  /** Inner steps per unroll call. */
  stepsPerJit: number;
  /** The unroll length the inner problems are told (FullES's drawn length). */
  overrideNumSteps?: number;
  /**
   * Whether the starting states are the unroll's to free (fresh states made for it);
   * otherwise they are the caller's and left alone.
   */
  ownsStart?: boolean;
}

/** Where an antithetic pair of unrolls ended, and what each sign saw, `[steps][K]`. */
export interface AntitheticUnrollOut<S> {
  /** Final inner states of the positively perturbed problems. */
  posState: S;
  /** Final inner states of the negatively perturbed problems. */
  negState: S;
  /** The positive unroll's losses, iterations and ends. */
  posInfo: UnrollInfo;
  /** The negative unroll's. */
  negInfo: UnrollInfo;
}

/**
 * Runs the ES family's antithetic pair: the problems perturbed by `+pert` and by `-pert`
 * advance `numChunks` unroll calls of `stepsPerJit` steps each, both signs on the same
 * batches and keys (one batch and one key of `rng` per call), so that their loss
 * differences measure theta alone. Intermediate states are freed as the unroll goes;
 * the final states are the caller's.
 */
export function antitheticUnroll<Theta, S>(
  step: TruncatedStep<Theta, S>,
  pert: VectorPerturbations<Theta>,
  rng: KeySequence,
  start: AntitheticStart<S>,
  o: AntitheticUnrollOptions,
): AntitheticUnrollOut<S> {
  checkPositiveInt(o.numChunks, 'antitheticUnroll: the number of unroll calls');
  const { posState, negState, outerState } = start;
  // States share tensors (both signs may start from one state; fields pass through), so
  // an old state is freed only of what neither new state, nor a caller's start, holds.
  const keepStart = o.ownsStart ? [] : [posState, negState];
  let p = posState;
  let n = negState;
  let pInfo: UnrollInfo | undefined;
  let nInfo: UnrollInfo | undefined;
  for (let i = 0; i < o.numChunks; i++) {
    const datas = step.getBatch(o.stepsPerJit);
    const k = rng.next();
    const [p2, pys] = truncatedUnroll(
      step,
      o.stepsPerJit,
      true,
      pert.pTheta,
      k,
      p,
      datas,
      outerState,
      o.overrideNumSteps,
    );
    const [n2, nys] = truncatedUnroll(
      step,
      o.stepsPerJit,
      true,
      pert.nTheta,
      k,
      n,
      datas,
      outerState,
      o.overrideNumSteps,
    );
    if (i > 0 || o.ownsStart) {
      disposeExcept(p, p2, n2, ...keepStart);
      disposeExcept(n, p2, n2, ...keepStart);
    }
    p = p2;
    n = n2;
    const pi = unrollInfoOf(pys);
    const ni = unrollInfoOf(nys);
    pInfo = pInfo ? mergeInfo(pInfo, pi) : pi;
    nInfo = nInfo ? mergeInfo(nInfo, ni) : ni;
    disposeOuts(pys);
    disposeOuts(nys);
    disposeExcept(datas);
  }
  return { posState: p, negState: n, posInfo: pInfo!, negInfo: nInfo! };
}
