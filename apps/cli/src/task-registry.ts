import { random } from '@lopt/pytree';
import {
  FixedDimQuadraticFamily,
  getTask,
  type ImageTaskOptions,
  listTasks,
  NoisyQuadraticFamily,
  ParametricLMRNN,
  ParametricLMTransformer,
  singleTaskToFamily,
  type Task,
  type TaskFamily,
} from '@lopt/tasks';
import { CliError, oneLine } from './errors.js';
import { unknownName } from './names.js';
import type { GlobalOptions } from './output.js';

/** Every task name of `@lopt/tasks`' registry, sorted. */
export function taskNames(): string[] {
  return listTasks();
}

/** Task families by name; any task name also works as a one-task family. */
const FAMILIES: Record<string, { describe: string; data: string; make: (g: GlobalOptions) => Promise<TaskFamily> }> = {
  FixedDimQuadraticFamily: {
    describe: '10-d quadratics with a sampled target',
    data: '-',
    make: async () => new FixedDimQuadraticFamily(10),
  },
  NoisyQuadraticFamily: {
    describe: '10-d quadratics with sampled centre and scale, noisy gradients',
    data: '-',
    make: async () => new NoisyQuadraticFamily(10, 0.1),
  },
  ParametricLMRNN: {
    describe: 'byte-level vanilla RNN / GRU / LSTM language models of sampled sizes and sequence lengths',
    data: 'Jargon File (text)',
    make: async (g) => ParametricLMRNN.create(textDataOptions(g)),
  },
  ParametricLMTransformer: {
    describe: 'byte-level causal transformer language models of sampled sizes and sequence lengths',
    data: 'Jargon File (text)',
    make: async (g) => ParametricLMTransformer.create(textDataOptions(g)),
  },
};

// The language-model families read the corpus from the same cache root as image tasks.
function textDataOptions(g: GlobalOptions): { cacheRoot?: string; key: ReturnType<typeof random.PRNGKey> } {
  const { cacheRoot, key } = dataOptions(g);
  return cacheRoot ? { cacheRoot, key: key! } : { key: key! };
}

/** Every task-family name, sorted. */
export function familyNames(): string[] {
  return Object.keys(FAMILIES).sort();
}

/** A one-line description of the family `name`, and the data it uses. */
export function describeFamily(name: string): { describe: string; data: string } {
  const f = FAMILIES[name];
  return { describe: f?.describe ?? '', data: f?.data ?? '-' };
}

/** Data options of image tasks from the global flags. */
export function dataOptions(g: GlobalOptions): ImageTaskOptions {
  const root = g.dataDir ?? process.env.LOPT_DATA_DIR;
  // The batch order follows --seed too.
  const key = random.PRNGKey(g.seed);
  return root ? { cacheRoot: root, key } : { key };
}

/** Builds the task `name`, loading its data; unknown names give an error with suggestions. */
export async function loadTask(name: string, g: GlobalOptions): Promise<Task> {
  const names = taskNames();
  if (!names.includes(name)) throw unknownName('task', name, [...names, ...familyNames()], 'lopt tasks');
  try {
    return await getTask(name, dataOptions(g));
  } catch (e) {
    throw new CliError(`could not load task '${name}': ${oneLine(e)}`);
  }
}

/** A task family by name: a family, or a task as a one-task family. */
export async function loadTaskFamily(name: string, g: GlobalOptions): Promise<TaskFamily> {
  const fam = FAMILIES[name];
  if (fam) {
    try {
      return await fam.make(g);
    } catch (e) {
      throw new CliError(`could not load task family '${name}': ${oneLine(e)}`);
    }
  }
  const names = taskNames();
  if (!names.includes(name)) throw unknownName('task or task family', name, [...names, ...familyNames()], 'lopt tasks');
  return singleTaskToFamily(await loadTask(name, g)) as TaskFamily;
}
