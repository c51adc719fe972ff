import { Command, Option } from 'commander';
import { demoCommand } from './commands/demo.js';
import { evalCommand } from './commands/eval.js';
import { metaTrainCommand } from './commands/meta-train.js';
import { plotCommand } from './commands/plot.js';
import { optimizersCommand, tasksCommand } from './commands/list.js';
import { trainCommand } from './commands/train.js';
import { nonNegativeInt } from './parse.js';

/** The `lopt` program: global flags and every command. */
export function buildProgram(version: string): Command {
  const program = new Command('lopt')
    .description('lopt: learned optimizers for TypeScript over TensorFlow.js. Train, meta-train, evaluate and plot.')
    .version(version)
    .addOption(
      new Option('--backend <name>', 'tfjs backend (default: tensorflow when @tensorflow/tfjs-node is installed, else wasm)').choices([
        'wasm',
        'cpu',
        'tensorflow',
      ]),
    )
    .option('--seed <n>', 'seed every random draw derives from', nonNegativeInt, 0)
    .option('--data-dir <dir>', 'folder holding fashion-mnist/ and mnist/ (default: $LOPT_DATA_DIR, else the download cache)')
    .option('-q, --quiet', 'no progress bars or per-step logs; results only', false)
    .option('--json', 'machine-readable output: JSON lines on stdout', false)
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showSuggestionAfterError(true)
    .configureOutput({ outputError: (str, write) => write(`lopt: ${str}`) })
    .addHelpText(
      'after',
      `
Progress bars (rate and ETA) are drawn on stderr when it is a terminal, and never in a pipe or CI log.

Examples:
  lopt demo part1
  lopt tasks
  lopt train --task ImageMLP_FashionMnist8_Relu32 --optimizer Adam --steps 500
  lopt meta-train --lopt LearnableAdam --task FixedDimQuadraticFamily --estimator pes --outer-steps 100 --tasks 8 --out runs/q
  lopt eval --theta runs/q/theta.json --task FixedDimQuadraticTask --steps 200 --baseline adam
  lopt plot runs/q`,
    );
  for (const c of [demoCommand(), trainCommand(), metaTrainCommand(), evalCommand(), plotCommand(), tasksCommand(), optimizersCommand()]) {
    c.configureHelp({ showGlobalOptions: true });
    c.configureOutput({ outputError: (str, write) => write(`lopt: ${str}`) });
    program.addCommand(c);
  }
  return program;
}
