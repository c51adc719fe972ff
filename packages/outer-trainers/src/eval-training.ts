import type { Optimizer, OptState } from '@lopt/optimizers';
import { type PRNGKey, random, tidy, valueAndGrad } from '@lopt/pytree';
import type { Task } from '@lopt/tasks';
import type * as tf from '@tensorflow/tfjs-core';
import { checkPositiveInt, disposeExcept } from './tree-utils.js';

/** Options of {@link trainingCurves}. */
export interface TrainingCurvesOptions {
  /** Training steps. */
  numSteps: number;
  /** The run's key: parameters, loss keys and update keys derive from it (see {@link trainingCurves}). */
  key: PRNGKey;
  /** Evaluate every this many steps (default 10, as the reference), and always after the last step. */
  evalEvery?: number;
  /** Batches averaged per split at each evaluation (default 5). */
  evalBatches?: number;
  /** Batches averaged per split at the final evaluation (default 20). */
  lastEvalBatches?: number;
  /** Data splits evaluated (default `['train', 'test']`; ignored for tasks without data, which evaluate once as `'train'`). */
  splits?: readonly string[];
  /** The task evaluated (default the trained task, e.g. a family's `evalTaskFn`). */
  evalTask?: Task;
  /**
   * Put every split's data stream back where it was when the run started, afterwards
   * (default true): runs of several optimizers or seeds then see the same batches.
   */
  restoreData?: boolean;
  /** Called after every step with the number of steps done and the step's training loss. */
  onStep?: (done: number, trainLoss: number) => void;
  /** Yield to the event loop every this many steps (default 0: never), so progress can draw. */
  yieldEvery?: number;
}

/** Evaluation losses of one split. */
export interface SplitCurve {
  /** Mean loss over the evaluation batches, at each of `evalXs`. */
  loss: number[];
  /** Mean of the task's normaliser of each batch loss, at each of `evalXs`. */
  normalizedLoss: number[];
}

/** What {@link trainingCurves} records (the reference's `single_task_training_curves`). */
export interface TrainingCurves {
  /** The step of each training loss: 0 .. numSteps-1. */
  trainXs: number[];
  /** The training loss of each step, at the parameters before its update. */
  trainLoss: number[];
  /** The steps at which evaluations ran: 0, evalEvery, 2 evalEvery, ..., and numSteps. */
  evalXs: number[];
  /** Evaluation losses per split. */
  eval: Record<string, SplitCurve>;
  /** Wall time of the run, seconds. */
  seconds: number;
}

type IteratorLike = { next(): IteratorResult<unknown>; state?(): unknown; restore?(s: unknown): void };

function iteratorOf(task: Task, split: string): IteratorLike | undefined {
  const ds = task.datasets as unknown as Record<string, IteratorLike> | undefined;
  if (!ds) return undefined;
  const it = ds[split];
  if (!it || typeof it.next !== 'function') {
    throw new Error(`trainingCurves: the task ${task.name} has no data split '${split}'`);
  }
  return it;
}

function batchOf(it: IteratorLike | undefined): unknown {
  return it ? it.next().value : undefined;
}

const SPLITS_TO_RESTORE = ['train', 'innerValid', 'outerValid', 'test'];

function snapshotData(tasks: Task[]): () => void {
  const saved: [IteratorLike, unknown][] = [];
  const seen = new Set<unknown>();
  for (const t of tasks) {
    const ds = t.datasets as unknown as Record<string, IteratorLike> | undefined;
    if (!ds || seen.has(ds)) continue;
    seen.add(ds);
    for (const s of SPLITS_TO_RESTORE) {
      const it = ds[s];
      if (it?.state && it.restore) saved.push([it, it.state()]);
    }
  }
  return () => {
    for (const [it, st] of saved) it.restore!(st);
  };
}

const macrotask = () => new Promise<void>((r) => setTimeout(r, 0));

/**
 * Trains `task` with `opt` for `numSteps` steps and records training and evaluation
 * curves (the reference's `single_task_training_curves`). Keys: `[initKey, k] =
 * split(key)`; parameters and model state from `task.initWithState(initKey)`; each
 * training step splits `[k, lossKey, updateKey] = split(k, 3)`, computes the loss and
 * gradient of the `train` batch at `lossKey` and updates with `updateKey`; each
 * evaluation splits `[k, evalKey] = split(k)` and evaluates split `j` with batch `b` at
 * `foldIn(foldIn(evalKey, j), b)`. Evaluations run before step 0, every `evalEvery`
 * steps, and after the last step (with `lastEvalBatches` batches). Every tensor the loop
 * makes is freed; the data streams are put back where they were (see `restoreData`).
 */
export async function trainingCurves(task: Task, opt: Optimizer, opts: TrainingCurvesOptions): Promise<TrainingCurves> {
  const { numSteps, key } = opts;
  checkPositiveInt(numSteps, 'trainingCurves: numSteps');
  const evalEvery = opts.evalEvery ?? 10;
  checkPositiveInt(evalEvery, 'trainingCurves: evalEvery');
  const evalBatches = opts.evalBatches ?? 5;
  const lastEvalBatches = opts.lastEvalBatches ?? 20;
  checkPositiveInt(evalBatches, 'trainingCurves: evalBatches');
  checkPositiveInt(lastEvalBatches, 'trainingCurves: lastEvalBatches');
  if (!random.isPRNGKey(key)) throw new Error('trainingCurves: key must be a PRNG key (random.PRNGKey(seed))');
  const evalTask = opts.evalTask ?? task;
  const splits = task.datasets ? (opts.splits ?? ['train', 'test']) : ['train'];
  if (splits.length === 0) throw new Error('trainingCurves: splits is empty; give at least one data split');
  const trainIt = iteratorOf(task, 'train');
  const evalIts = splits.map((s) => iteratorOf(evalTask, s));
  const restore = opts.restoreData === false ? () => {} : snapshotData([task, evalTask]);

  const start = Date.now();
  const [initKey, loopKey] = random.split(key);
  let k = loopKey!;
  const [p0, s0] = task.initWithState(initKey!);
  let state: OptState = opt.init(p0, { modelState: s0, numSteps });
  disposeExcept([p0, s0], state);
  const stateful = s0 !== undefined && s0 !== null;
  const vg = stateful
    ? valueAndGrad((p: unknown, s: unknown, lk: PRNGKey, b: unknown) => task.lossWithState(p, s, lk, b), {
        hasAux: true,
      })
    : valueAndGrad(task.loss);
  const out: TrainingCurves = { trainXs: [], trainLoss: [], evalXs: [], eval: {}, seconds: 0 };
  for (const s of splits) out.eval[s] = { loss: [], normalizedLoss: [] };

  const evaluate = (step: number, batches: number) => {
    const [next, evalKey] = random.split(k);
    k = next!;
    splits.forEach((s, j) => {
      let total = 0;
      let totalNorm = 0;
      for (let b = 0; b < batches; b++) {
        const [l, n] = tidy(() => {
          const bk = random.foldIn(random.foldIn(evalKey!, j), b);
          const [p, ms] = opt.getParamsState(state);
          const batch = batchOf(evalIts[j]);
          const loss = stateful ? evalTask.lossWithState(p, ms, bk, batch)[0] : evalTask.loss(p, bk, batch);
          return [loss.dataSync()[0]!, evalTask.normalizer(loss).dataSync()[0]!];
        });
        total += l;
        totalNorm += n;
      }
      out.eval[s]!.loss.push(total / batches);
      out.eval[s]!.normalizedLoss.push(totalNorm / batches);
    });
    out.evalXs.push(step);
  };

  try {
    for (let i = 0; i < numSteps; i++) {
      if (i % evalEvery === 0) evaluate(i, evalBatches);
      const [next, lossKey, updateKey] = random.split(k, 3);
      k = next!;
      const { nextState, loss } = tidy(() => {
        const [p, ms] = opt.getParamsState(state);
        const batch = batchOf(trainIt);
        if (stateful) {
          const [[l, newState], g] = (vg as (...a: unknown[]) => [[tf.Scalar, unknown], unknown])(
            p,
            ms,
            lossKey!,
            batch,
          );
          return { nextState: opt.update(state, g, { loss: l, modelState: newState, key: updateKey! }), loss: l };
        }
        const [l, g] = (vg as (...a: unknown[]) => [tf.Scalar, unknown])(p, lossKey!, batch);
        return { nextState: opt.update(state, g, { loss: l, key: updateKey! }), loss: l };
      });
      disposeExcept(state, nextState);
      state = nextState;
      const l = loss.dataSync()[0]!;
      loss.dispose();
      out.trainXs.push(i);
      out.trainLoss.push(l);
      opts.onStep?.(i + 1, l);
      if (opts.yieldEvery && (i + 1) % opts.yieldEvery === 0) await macrotask();
    }
    evaluate(numSteps, lastEvalBatches);
  } finally {
    disposeExcept(state);
    restore();
  }
  out.seconds = (Date.now() - start) / 1000;
  return out;
}
