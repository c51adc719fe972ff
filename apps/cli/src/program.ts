import { fastPathCounts } from '@lopt/pytree';
import { Command, Option } from 'commander';
import { demoCommand } from './commands/demo.js';
import { evalCommand } from './commands/eval.js';
import { optimizersCommand, tasksCommand } from './commands/list.js';
import { metaTrainCommand } from './commands/meta-train.js';
import { plotCommand } from './commands/plot.js';
import { trainCommand } from './commands/train.js';
import { seed } from './parse.js';

/** The `lopt` program: global flags and every command. */
export function buildProgram(version: string): Command {
  const program = new Command('lopt')
    .description('lopt: learned optimizers for TypeScript over TensorFlow.js. Train, meta-train, evaluate and plot.')
    .version(version)
    .addOption(
      new Option(
        '--backend <name>',
        'tfjs backend (default: tensorflow when @tensorflow/tfjs-node is installed, else wasm)',
      ).choices(['wasm', 'cpu', 'tensorflow']),
    )
    .option('--seed <n>', 'seed every random draw derives from (an integer from 0 to 2^53 - 1)', seed, 0)
    .option(
      '--data-dir <dir>',
      'folder holding fashion-mnist/ and mnist/ (the official *-ubyte.gz files), and cifar-10-batches-bin/ or cifar-100-binary/ for CIFAR tasks (default: $LOPT_DATA_DIR, else the download cache)',
    )
    .option('--no-download', 'never download datasets; use local files only')
    .option('-q, --quiet', 'no progress bars or per-step logs; results only', false)
    .option('--json', 'machine-readable output: JSON lines on stdout', false)
    .option(
      '--verbose',
      'after the command, print on stderr how often each op took its fast kernel or its plain ops',
      false,
    )
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showSuggestionAfterError(true)
    .configureOutput({ outputError: (str, write) => write(`lopt: ${str}`) })
    .addHelpText(
      'after',
      `
Progress bars (rate and ETA) are drawn on stderr when it is a terminal, and never in a pipe or CI log.

Output folders: a folder holding another run's results is refused unless --force (or, for
meta-train, --resume); a lock file keeps two runs out of one folder. Ctrl-C (SIGINT) or SIGTERM
finishes the current step, writes what --out promises, and exits with code 130.

Examples:
  lopt demo part1
  lopt tasks
  lopt train --task ImageMLP_FashionMnist8_Relu32 --optimizer Adam --lr 0.01 --steps 500 --out runs/adam
  lopt meta-train --lopt LearnableAdam --task FixedDimQuadraticFamily --estimator pes --outer-steps 100 --tasks 8 --out runs/la-quad
  lopt eval --theta runs/la-quad/theta.json --task FixedDimQuadraticFamily --steps 200 --baseline adam,sgd
  lopt plot runs/la-quad`,
    );
  for (const c of [
    demoCommand(),
    trainCommand(),
    metaTrainCommand(),
    evalCommand(),
    plotCommand(),
    tasksCommand(),
    optimizersCommand(),
  ]) {
    c.configureHelp({ showGlobalOptions: true });
    c.configureOutput({ outputError: (str, write) => write(`lopt: ${str}`) });
    program.addCommand(c);
  }
  program.hook('postAction', (_program, action) => {
    if (action.optsWithGlobals().verbose) process.stderr.write(fastPathReport());
  });
  return program;
}

/** One line per op that ran: how often it took its fast kernel and its plain ops. */
export function fastPathReport(): string {
  const rows = Object.entries(fastPathCounts()).filter(([, c]) => c.fast + c.plain > 0);
  if (rows.length === 0) return 'fast paths: no op with a fast path ran\n';
  return `fast paths:\n${rows.map(([name, c]) => `  ${name}: ${c.fast} fast, ${c.plain} plain\n`).join('')}`;
}
