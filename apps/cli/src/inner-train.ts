import type { Optimizer, OptState } from '@lopt/optimizers';
import { disposeExcept } from '@lopt/outer-trainers';
import { type PRNGKey, random, tidy, valueAndGrad } from '@lopt/pytree';
import type { Task } from '@lopt/tasks';
import * as tf from '@tensorflow/tfjs-core';

/** A training run's losses. */
export interface TrainCurve {
  /** Training loss of every step run (before its update). */
  train: number[];
  /** Test loss at the logged steps, as `[step, loss]` (always including the last step run). */
  test: [number, number][];
  /** Wall time of the loop in seconds. */
  seconds: number;
  /** Steps run: fewer than asked when stopped or diverged. */
  steps: number;
  /** Why the run ended early: a stop request, or a non-finite training loss. */
  ended?: { reason: 'stopped' } | { reason: 'diverged'; step: number; loss: number };
}

/** Options of `trainTask`. */
export interface TrainTaskOptions {
  /** Number of inner steps. */
  steps: number;
  /** Seed of the parameter init and the per-step keys. */
  seed: number;
  /** Measure the test loss every this many steps (and after the last). */
  logEvery: number;
  /** Called at each logged step with the step, its training loss and the test loss. */
  onLog?: (step: number, trainLoss: number, testLoss: number) => void;
  /** Called after every step. */
  onStep?: (done: number, trainLoss: number) => void;
  /** Checked after every step: true ends the run after that step (as the last one). */
  shouldStop?: () => boolean;
}

/** Draws a batch of `split` from the task's data, or `undefined` for tasks without data. */
function batchOf(task: Task, split: 'train' | 'test'): unknown {
  const ds = task.datasets;
  return ds ? ds[split].next().value : undefined;
}

const nextTick = () => new Promise<void>((r) => setImmediate(r));

/**
 * Trains `task` with `opt` from parameters drawn from `seed`, as the Part 1 loop does:
 * one gradient step per batch, every tensor freed along the way. Yields to the event
 * loop between steps so progress bars draw and Ctrl-C is heard. A stop request ends the
 * run after the current step, and a non-finite training loss ends it at that step; either
 * way the last step run is logged with its test loss.
 */
export async function trainTask(task: Task, opt: Optimizer, opts: TrainTaskOptions): Promise<TrainCurve> {
  const start = Date.now();
  let key: PRNGKey = random.PRNGKey(opts.seed);
  const [initKey, loopKey] = random.split(key);
  key = loopKey!;
  let state: OptState = opt.init(task.init(initKey!), { numSteps: opts.steps });
  // task.loss itself, not a wrapper: the task's fused loss-and-gradient applies.
  const gradFn = valueAndGrad(task.loss);
  const curve: TrainCurve = { train: [], test: [], seconds: 0, steps: 0 };
  const testLoss = (k: PRNGKey) => {
    const t = tf.tidy(() => task.loss(opt.getParams(state), k, batchOf(task, 'test')));
    const v = t.dataSync()[0]!;
    t.dispose();
    return v;
  };
  try {
    for (let i = 0; i < opts.steps; i++) {
      const [k0, k1, k2] = random.split(key, 3);
      key = k0!;
      const out = tidy(() => {
        const [l, g] = gradFn(opt.getParams(state), k1!, batchOf(task, 'train'));
        return { next: opt.update(state, g, { loss: l as tf.Scalar }), l };
      });
      disposeExcept(state, out.next);
      state = out.next;
      const l = out.l.dataSync()[0]!;
      out.l.dispose();
      curve.train.push(l);
      curve.steps = i + 1;
      if (!Number.isFinite(l)) curve.ended = { reason: 'diverged', step: i, loss: l };
      else if (opts.shouldStop?.()) curve.ended = { reason: 'stopped' };
      const last = curve.ended !== undefined || i === opts.steps - 1;
      if (i % opts.logEvery === 0 || last) {
        const tl = testLoss(k2!);
        curve.test.push([i, tl]);
        opts.onLog?.(i, l, tl);
      }
      opts.onStep?.(i + 1, l);
      if (curve.ended) break;
      await nextTick();
    }
  } finally {
    disposeExcept(state);
  }
  curve.seconds = (Date.now() - start) / 1000;
  return curve;
}
