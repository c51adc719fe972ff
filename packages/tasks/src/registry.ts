import { closestNames } from '@lopt/pytree';
import * as conv from './conv.js';
import type { ImageTaskOptions } from './image-data.js';
import * as imageMlp from './image-mlp.js';
import * as lm from './lm.js';
import { BatchQuadraticTask, LogQuadraticTask, QuadraticTask, SumQuadraticTask } from './quadratics.js';
import type { Task } from './task.js';

/** Builds a task by name; image and text tasks load their data with `opts` (the fields they share: folders, cache root, key, batch size). */
export type TaskFactory = (opts?: ImageTaskOptions) => Promise<Task>;

const registry = new Map<string, TaskFactory>();

/**
 * Adds a task to the registry under `name`, for `getTask` (and gin-like configuration by
 * name). A name already taken throws unless `overwrite`.
 */
export function registerTask(name: string, factory: TaskFactory, { overwrite = false } = {}): void {
  if (registry.has(name) && !overwrite) throw new Error(`registerTask: a task named '${name}' is already registered`);
  registry.set(name, factory);
}

function isFactory(x: unknown): x is TaskFactory {
  return typeof x === 'function';
}

for (const mod of [imageMlp, conv, lm]) {
  for (const [name, f] of Object.entries(mod)) if (isFactory(f)) registerTask(name, f as TaskFactory);
}
registerTask('QuadraticTask', async () => new QuadraticTask());
registerTask('BatchQuadraticTask', async () => new BatchQuadraticTask());
registerTask('LogQuadraticTask', async () => new LogQuadraticTask());
registerTask('SumQuadraticTask', async () => new SumQuadraticTask());

/** The names of every registered task, sorted. */
export function listTasks(): string[] {
  return [...registry.keys()].sort();
}

/** Up to three registered names closest to `name` (case-insensitive edit distance; a name containing it counts as a near miss). */
export function similarTaskNames(name: string): string[] {
  return closestNames(name, listTasks(), { maxDistance: Number.POSITIVE_INFINITY });
}

/**
 * The task registered as `name` (the reference's `get_task_from_name`), built with `opts`
 * (data location for image tasks). An unknown name throws an error suggesting the
 * closest names; `listTasks()` gives them all.
 */
export async function getTask(name: string, opts: ImageTaskOptions = {}): Promise<Task> {
  const f = registry.get(name);
  if (!f) {
    throw new Error(
      `Unknown task '${name}'. Did you mean ${similarTaskNames(name)
        .map((s) => `'${s}'`)
        .join(', ')}? (listTasks() gives all ${registry.size})`,
    );
  }
  return f(opts);
}
