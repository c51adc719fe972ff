import { describeTaskDistribution, listTaskDistributions } from '@lopt/tasks';
import { Command } from 'commander';
import { start } from '../context.js';
import { defaultLearningRate, learnedOptimizerNames, optimizerNames } from '../optimizer-registry.js';
import { newTable } from '../table.js';
import { dataOf, describeFamily, familyNames, taskNames } from '../task-registry.js';

// CIFAR is never downloaded: its tasks need the unpacked official files through --data-dir.
const dataColumn = (name: string): string => {
  const d = dataOf(name);
  return d.startsWith('CIFAR') ? `${d} (local files: --data-dir)` : d;
};

// What the registered distributions draw their data from (their `datasets` option picks).
const DISTRIBUTION_DATA: Record<string, string> = {
  ImageMLPDistribution: 'Fashion-MNIST, MNIST (option datasets; CIFAR: --data-dir)',
  ImageConvDistribution: 'Fashion-MNIST, MNIST (option datasets; CIFAR: --data-dir)',
  NamedTasksDistribution: "the listed tasks' (option tasks)",
  MixtureTaskDistribution: "its components' (option components)",
};

/** The `lopt tasks` command. */
export function tasksCommand(): Command {
  return new Command('tasks')
    .description(
      'List the tasks and task families (names for --task) and the task distributions (names for --distribution).',
    )
    .action(async (_flags: unknown, cmd: Command) => {
      const { out } = await start(cmd, false);
      const tasks = taskNames().map((name) => ({ name, kind: 'task', data: dataColumn(name), description: '' }));
      const families = familyNames().map((name) => ({
        name,
        kind: 'family',
        data: describeFamily(name).data,
        description: describeFamily(name).describe,
      }));
      const distributions = listTaskDistributions().map((name) => ({
        name,
        kind: 'distribution',
        data: DISTRIBUTION_DATA[name] ?? '-',
        description: describeTaskDistribution(name),
      }));
      const table = newTable(['name', 'kind', 'data', 'description']);
      for (const r of [...tasks, ...families, ...distributions]) table.push([r.name, r.kind, r.data, r.description]);
      out.result(
        `${table.toString()}\nEvery task also works as a one-task family for \`lopt meta-train --task\`. Distributions draw whole families (sizes, data, batch sizes); \`lopt meta-train --distribution <name>\` meta-trains on them, and recipe files (\`--recipe\`) mix them with augmentation.`,
        { tasks, families, distributions },
      );
    });
}

/** The `lopt optimizers` command. */
export function optimizersCommand(): Command {
  return new Command('optimizers')
    .description('List the hand-designed (--optimizer, --baseline) and learned (--lopt) optimizers.')
    .action(async (_flags: unknown, cmd: Command) => {
      const { out } = await start(cmd, false);
      const hand = optimizerNames().map((name) => ({
        name,
        kind: 'hand-designed',
        defaultLr: defaultLearningRate(name),
      }));
      const learned = learnedOptimizerNames().map((name) => ({ name, kind: 'learned', defaultLr: null }));
      const table = newTable(['name', 'kind', 'default --lr']);
      for (const r of hand) table.push([r.name, r.kind, String(r.defaultLr)]);
      for (const r of learned) table.push([r.name, r.kind, '- (theta)']);
      out.result(table.toString(), { optimizers: hand, learnedOptimizers: learned });
    });
}
