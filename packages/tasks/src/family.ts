import type { PRNGKey } from '@lopt/pytree';
import { random } from '@lopt/pytree';
import { BaseTaskFamily } from './base-task.js';
import type { ImageTaskOptions } from './image-data.js';
import { getTask } from './registry.js';
import type { Task, TaskFamily } from './task.js';

/** The family of {@link singleTaskToFamily}: every sample is `0` and gives the one task. */
class SingleTaskFamily<P, D, S> extends BaseTaskFamily<number, P, D, S> {
  constructor(
    private readonly task: Task<P, D, S>,
    private readonly familyName: string,
    private readonly evalTask: Task<P, D, S>,
  ) {
    super();
    this.datasets = task.datasets;
  }

  override get name(): string {
    return this.familyName;
  }

  sample(_key: PRNGKey): number {
    return 0;
  }

  taskFn(_cfg: number): Task<P, D, S> {
    return this.task;
  }

  override evalTaskFn(_cfg: number): Task<P, D, S> {
    return this.evalTask;
  }
}

/**
 * A family that always gives `task` (the reference's `single_task_to_family`): `sample`
 * returns `0`, `taskFn` the task, `evalTaskFn` `evalTask` (default: the task). The
 * family's name is `name`, else the task's.
 */
export function singleTaskToFamily<P, D, S>(
  task: Task<P, D, S>,
  opts: { name?: string; evalTask?: Task<P, D, S> } = {},
): TaskFamily<number, P, D, S> {
  return new SingleTaskFamily(task, opts.name ?? task.name, opts.evalTask ?? task);
}

/**
 * Picks one of `taskNames` uniformly with `key` (as `jax.random.choice`: a `randint`)
 * and returns it as a single-task family (the reference's
 * `sample_task_family_from_task_fns`). Async because image tasks load their data;
 * `opts` is passed to the task's factory.
 */
export async function sampleTaskFamilyFromTaskFns(
  key: PRNGKey,
  taskNames: readonly string[],
  opts: ImageTaskOptions = {},
): Promise<TaskFamily> {
  if (taskNames.length === 0) throw new Error('sampleTaskFamilyFromTaskFns: taskNames is empty');
  const idx = random.randintArray(key, 1, 0, taskNames.length)[0]!;
  return singleTaskToFamily(await getTask(taskNames[idx]!, opts));
}
