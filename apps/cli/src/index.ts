import { readFileSync } from 'node:fs';
import { CliError, oneLine } from './errors.js';
import { buildProgram } from './program.js';

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

// Every failure is one line on stderr and a non-zero exit code; a stack trace only with LOPT_DEBUG.
function fail(e: unknown): never {
  if (process.env.LOPT_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.stderr.write(`lopt: error: ${oneLine(e)}\n`);
  process.exit(e instanceof CliError ? e.exitCode : 1);
}

process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

try {
  await buildProgram(version()).parseAsync(process.argv);
} catch (e) {
  fail(e);
}
