// Part 3: truncation schedules and truncated steps (the reference walkthrough's Part 3,
// "Truncation_TruncatedStep", in TypeScript). Run: `npx tsx src/part3-truncated-steps.ts`.
import { LearnableSGDM } from '@lopt/learned';
import { Adam, type OptState } from '@lopt/optimizers';
import {
  ConstantTruncationSchedule,
  type ConstantTruncationState,
  disposeExcept,
  VectorizedLOptTruncatedStep,
} from '@lopt/outer-trainers';
import { type PRNGKey, random, treeDispose, valueAndGrad } from '@lopt/pytree';
import { FixedDimQuadraticFamilyData, type ImageTaskOptions, imageMlp } from '@lopt/tasks';

/** Options of `runPart3` (defaults follow the walkthrough; tests shorten them). */
export interface Part3Options {
  /** Inner steps of the sequential and the 8-task loops (walkthrough: 200). */
  innerSteps?: number;
  /** Truncation length of those loops (walkthrough: 50). */
  truncationLength?: number;
  /** Problems trained side by side (walkthrough: 8). */
  numTasks?: number;
  /** Where the Fashion-MNIST data is (passed to the task factory). */
  data?: ImageTaskOptions;
  /** Where output goes (default `console.log`). */
  log?: (...args: unknown[]) => void;
}

/** What `runPart3` observed, for plots or checks. */
export interface Part3Result {
  /** `isDone` of a length-10 schedule at steps 0..11. */
  constantDone: boolean[];
  /** Losses of one model trained over and over (NaN where it was reset). */
  sequentialLosses: number[];
  /** Losses `[step][task]` of K models in lock step. */
  lockStepLosses: number[][];
  /** Losses `[step][task]` of K models started at random offsets. */
  offsetLosses: number[][];
  /** `innerStep`, losses and masks of a `VectorizedLOptTruncatedStep` on quadratics. */
  vectorized: { innerStep: number[]; loss: number[]; mask: boolean[] }[];
}

/** Part 3 of the walkthrough: schedules, resets, lock step vs offsets, and truncated steps. */
export async function runPart3(opts: Part3Options = {}): Promise<Part3Result> {
  const log = opts.log ?? console.log;
  const innerSteps = opts.innerSteps ?? 200;
  const truncLen = opts.truncationLength ?? 50;
  const nTasks = opts.numTasks ?? 8;
  const outerState = { outerIteration: 0 };

  // #region schedule
  // A schedule is stateless; its state is plain data. Length 10: done from step 10 on.
  const truncSched = new ConstantTruncationSchedule(10);
  let key = random.PRNGKey(0);
  let truncState = truncSched.init(key, outerState);
  const constantDone: boolean[] = [];
  for (let i = 0; i < 12; i++) {
    let isDone: boolean;
    [truncState, isDone] = truncSched.nextState(truncState, i, key, outerState);
    constantDone.push(isDone);
    log(i, isDone);
  }
  // #endregion schedule

  // #region sequential
  // Training one model over and over: train while the truncation runs, reset when done.
  const task = await imageMlp.ImageMLP_FashionMnist8_Relu32(opts.data);
  type Params = ReturnType<typeof task.init>;
  const opt = new Adam(3e-3);
  const sched = new ConstantTruncationSchedule(truncLen);
  // The state that moves from step to step: the optimizer state, the truncation state,
  // the inner iteration within the truncation, and a key.
  type TrainState = {
    optState: OptState<Params>;
    truncState: ConstantTruncationState;
    iter: number;
    key: PRNGKey;
    isDone: boolean;
  };
  const initState = (k: PRNGKey, iter = 0): TrainState => {
    const [k0, k1, k2] = random.split(k, 3);
    return {
      optState: opt.init(task.init(k1!)),
      truncState: sched.init(k2!, outerState),
      iter,
      key: k0!,
      isDone: false,
    };
  };
  const lossFn = valueAndGrad(task.loss);
  const step = (s: TrainState): [TrainState, number] => {
    if (s.isDone) {
      disposeExcept(s.optState);
      return [initState(s.key), Number.NaN];
    }
    const [truncState, isDone] = sched.nextState(s.truncState, s.iter + 1, s.key, outerState);
    const [k0, k1] = random.split(s.key);
    const batch = task.datasets!.train.next().value;
    const [l, g] = lossFn(opt.getParams(s.optState), k1!, batch);
    const next = opt.update(s.optState, g, { loss: l });
    disposeExcept([batch, g, s.optState], next);
    const loss = l.dataSync()[0]!;
    l.dispose();
    return [{ optState: next, truncState, iter: s.iter + 1, key: k0!, isDone }, loss];
  };

  let state = initState(key);
  const sequentialLosses: number[] = [];
  for (let i = 0; i < innerSteps; i++) {
    let l: number;
    [state, l] = step(state);
    sequentialLosses.push(l);
  }
  disposeExcept(state.optState);
  log('sequential losses (NaN = reset):', sequentialLosses.map((l) => l.toFixed(3)).join(' '));
  // #endregion sequential

  // #region many
  // K models side by side, first in lock step, then with random starting iterations so
  // that they reset at different times.
  const runMany = (offsets: number[] | null): number[][] => {
    const states = random.split(key, nTasks).map((k, i) => initState(k, offsets?.[i] ?? 0));
    const losses: number[][] = [];
    for (let i = 0; i < innerSteps; i++) {
      const row: number[] = [];
      states.forEach((s, k) => {
        const [n, l] = step(s);
        states[k] = n;
        row.push(l);
      });
      losses.push(row);
    }
    for (const s of states) disposeExcept(s.optState);
    return losses;
  };
  const lockStepLosses = runMany(null);
  const offsetLosses = runMany(Array.from(random.randintArray(key, nTasks, 0, truncLen)));
  log('lock step: every model resets at the same step; with offsets they reset apart.');
  // #endregion many

  // #region vectorized
  // A VectorizedLOptTruncatedStep: K problems of a task family trained by a learned
  // optimizer, reset when their truncation ends (loss 0, mask false).
  const lopt = new LearnableSGDM();
  const truncatedStep = new VectorizedLOptTruncatedStep(
    new FixedDimQuadraticFamilyData(10),
    lopt,
    new ConstantTruncationSchedule(5),
    3,
    {
      randomInitialIterationOffset: 5,
    },
  );
  key = random.PRNGKey(1);
  const theta = truncatedStep.outerInit(key);
  let unrollState = truncatedStep.initStepState(theta, outerState, key);
  log('Iteration=', unrollState.innerStep);
  const vectorized: Part3Result['vectorized'] = [];
  for (let i = 0; i < 10; i++) {
    const batch = truncatedStep.getBatch(1);
    const [next, out] = truncatedStep.unrollStep(theta, unrollState, random.foldIn(key, i), batch[0]!, outerState);
    disposeExcept(unrollState, next);
    disposeExcept(batch);
    unrollState = next;
    const loss = Array.from(out.loss.dataSync());
    out.loss.dispose();
    vectorized.push({ innerStep: unrollState.innerStep.slice(), loss, mask: out.mask });
    log(
      'Iteration=',
      unrollState.innerStep,
      'Loss=',
      loss.map((l) => l.toFixed(3)),
      'Mask=',
      out.mask,
    );
  }
  // #endregion vectorized
  disposeExcept(unrollState);
  treeDispose(theta);
  return { constantDone, sequentialLosses, lockStepLosses, offsetLosses, vectorized };
}

if (import.meta.url === `file://${process.argv[1]}`) await runPart3();
