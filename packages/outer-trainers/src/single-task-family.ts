import type { PRNGKey } from '@lopt/pytree';
import type { Task, TaskFamily } from '@lopt/tasks';

/**
 * A family holding one task (learned_optimization's `single_task_to_family`): every
 * sample is the same task, so K problems of it can share one batched loss call.
 */
export function singleTaskToFamily<P, D, S>(task: Task<P, D, S>, name?: string): TaskFamily<null, P, D, S> {
  return {
    name: name ?? `single_${task.name}`,
    datasets: task.datasets,
    sample: (_key: PRNGKey) => null,
    taskFn: () => task,
    sampleTask: () => task,
    evalTaskFn: () => task,
  };
}
