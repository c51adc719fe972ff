import { DatasetError } from '@lopt/datasets';
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

/** The data set a task trains on, from its name. */
export function dataOf(
  name: string,
): 'Jargon File (text)' | 'Fashion-MNIST' | 'MNIST' | 'CIFAR-10' | 'CIFAR-100' | '-' {
  if (/Jargon/i.test(name)) return 'Jargon File (text)';
  if (/FashionMnist/i.test(name)) return 'Fashion-MNIST';
  if (/Mnist/i.test(name)) return 'MNIST';
  if (/Cifar100/i.test(name)) return 'CIFAR-100';
  if (/Cifar/i.test(name)) return 'CIFAR-10';
  return '-';
}

/** The folder `--data-dir` (or `LOPT_DATA_DIR`) names, if any. */
function dataRoot(g: GlobalOptions): string | undefined {
  return g.dataDir ?? (process.env.LOPT_DATA_DIR || undefined);
}

/** Data options of image tasks from the global flags. */
export function dataOptions(g: GlobalOptions, task = ''): ImageTaskOptions {
  const root = dataRoot(g);
  // The batch order follows --seed too.
  const key = random.PRNGKey(g.seed);
  const data = dataOf(task);
  if (data === 'CIFAR-10' || data === 'CIFAR-100') {
    // CIFAR is never downloaded: the reader takes the folder holding the unpacked archive.
    const folder = data === 'CIFAR-10' ? 'cifar-10-batches-bin' : 'cifar-100-binary';
    const archive = data === 'CIFAR-10' ? 'cifar-10-binary.tar.gz' : 'cifar-100-binary.tar.gz';
    if (!root) {
      throw new CliError(
        `${task} needs the ${data} binary files, which lopt does not download: unpack ${archive} (https://www.cs.toronto.edu/~kriz/cifar.html) into a folder, so that it holds ${folder}/, and pass that folder with --data-dir (or set LOPT_DATA_DIR)`,
      );
    }
    return { dataDir: root, key } as ImageTaskOptions;
  }
  return { ...(root ? { cacheRoot: root } : {}), key, ...(g.download === false ? { download: false } : {}) };
}

const IDX_FILES =
  'train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz';

/** What to do when a task's data cannot be found. */
function dataAdvice(task: string, g: GlobalOptions): string {
  const data = dataOf(task);
  if (data === 'Fashion-MNIST' || data === 'MNIST') {
    const folder = data === 'Fashion-MNIST' ? 'fashion-mnist' : 'mnist';
    const debian = data === 'Fashion-MNIST' ? ', or install the Debian package dataset-fashion-mnist' : '';
    const download = g.download === false ? '' : '; with network access they are downloaded once into the cache';
    return `. To give the data: put the four files (${IDX_FILES}) into <folder>/${folder}/ and pass --data-dir <folder> (or set LOPT_DATA_DIR=<folder>)${debian}${download}`;
  }
  if (data === 'CIFAR-10' || data === 'CIFAR-100') {
    const folder = data === 'CIFAR-10' ? 'cifar-10-batches-bin' : 'cifar-100-binary';
    return `. --data-dir (or LOPT_DATA_DIR) must be the folder holding ${folder}/ of the official binary archive`;
  }
  return '';
}

/** What to do when the Fashion-MNIST or MNIST files of a task distribution cannot be found. */
export function imageDataAdvice(g: GlobalOptions): string {
  const download = g.download === false ? '' : '; with network access they are downloaded once into the cache';
  return `. To give the data: put the four files (${IDX_FILES}) into <folder>/fashion-mnist/ and <folder>/mnist/ and pass --data-dir <folder> (or set LOPT_DATA_DIR=<folder>)${download}`;
}

/** Builds the registered task `name`, loading its data; data problems say what to do. */
async function buildTask(name: string, g: GlobalOptions): Promise<Task> {
  const opts = dataOptions(g, name);
  try {
    return await getTask(name, opts);
  } catch (e) {
    const missing =
      e instanceof DatasetError ? /not found|no folder to download/.test(e.message) : /not found/.test(oneLine(e));
    throw new CliError(`could not load task '${name}': ${oneLine(e)}${missing ? dataAdvice(name, g) : ''}`);
  }
}

/**
 * The task `name` for commands that train one task (`train`, `eval`): a registered task,
 * or a task drawn from the family `name` with the key of `--seed`.
 */
export async function loadTask(name: string, g: GlobalOptions): Promise<{ task: Task; label: string }> {
  const fam = FAMILIES[name];
  if (fam) {
    const family = await fam.make(g);
    const task = family.sampleTask(random.foldIn(random.PRNGKey(g.seed), 1));
    return { task, label: `${task.name} (drawn from ${name} with seed ${g.seed})` };
  }
  const names = taskNames();
  if (!names.includes(name)) throw unknownName('task or task family', name, [...names, ...familyNames()], 'lopt tasks');
  const task = await buildTask(name, g);
  return { task, label: task.name };
}

/** A task family by name: a family, or a task as a one-task family (with the task, when one). */
export async function loadTaskFamily(name: string, g: GlobalOptions): Promise<{ family: TaskFamily; task?: Task }> {
  const fam = FAMILIES[name];
  if (fam) {
    try {
      return { family: await fam.make(g) };
    } catch (e) {
      throw new CliError(`could not load task family '${name}': ${oneLine(e)}`);
    }
  }
  const names = taskNames();
  if (!names.includes(name)) throw unknownName('task or task family', name, [...names, ...familyNames()], 'lopt tasks');
  const task = await buildTask(name, g);
  return { family: singleTaskToFamily(task) as TaskFamily, task };
}
