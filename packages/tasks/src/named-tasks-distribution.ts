import type { PRNGKey } from '@lopt/pytree';
import { singleTaskToFamily } from './family.js';
import type { ImageTaskOptions } from './image-data.js';
import { assertKnownKeys } from './options-check.js';
import { choice } from './parametric-image-mlp.js';
import { getTask, listTasks } from './registry.js';
import type { TaskFamily } from './task.js';
import type { TaskDistribution } from './task-distribution.js';

/** A family config of {@link NamedTasksDistribution}: the task's registered name. */
export interface NamedTaskCfg {
  /** The task's name in the task registry. */
  task: string;
}

/**
 * One of a list of registered tasks, uniformly, as a one-task family (the reference's
 * `sample_task_family_from_task_fns` as a distribution). Any task added with
 * `registerTask` (language tasks included) can join a meta-training mixture this way.
 */
export class NamedTasksDistribution implements TaskDistribution<NamedTaskCfg> {
  /** The task names. */
  readonly tasks: readonly string[];

  /** A distribution over `opts.tasks` (each must be registered). */
  constructor(opts: { tasks: readonly string[] }) {
    assertKnownKeys(opts, ['tasks'], 'NamedTasksDistribution');
    if (!Array.isArray(opts.tasks) || opts.tasks.length === 0)
      throw new Error('NamedTasksDistribution: tasks must be a non-empty list of task names');
    const known = listTasks();
    for (const t of opts.tasks) {
      if (!known.includes(t))
        throw new Error(
          `NamedTasksDistribution: unknown task '${t}' (listTasks() gives the ${known.length} registered ones)`,
        );
    }
    this.tasks = opts.tasks.slice();
  }

  /** `'NamedTasksDistribution'`. */
  get name(): string {
    return 'NamedTasksDistribution';
  }

  /** One of the names, uniformly. */
  sample(key: PRNGKey): NamedTaskCfg {
    return { task: choice(key, this.tasks) };
  }

  /** The named task as a one-task family. */
  async familyFn(cfg: NamedTaskCfg, opts: ImageTaskOptions = {}): Promise<TaskFamily> {
    return singleTaskToFamily(await getTask(cfg.task, opts)) as TaskFamily;
  }
}
