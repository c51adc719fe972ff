/**
 * An error meant for the user: printed as one line (`lopt: <message>`) with a non-zero
 * exit code, never with a stack trace.
 */
export class CliError extends Error {
  /** The process exit code (default 1). */
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** The one-line form of any thrown value: its message with line breaks folded. */
export function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/\s*\n\s*/g, ' ').trim() || 'unknown error';
}
