import type { Output } from './output.js';

/** The exit code of a run stopped by SIGINT or SIGTERM (128 + SIGINT's number, as shells use). */
export const INTERRUPTED_EXIT_CODE = 130;

/**
 * SIGINT (Ctrl-C) and SIGTERM for a long command: the first one asks the command to stop
 * after its current step (it then writes what it promised and exits with 130); a second
 * one quits at once, after restoring the terminal.
 */
export class Interrupt {
  private readonly controller = new AbortController();
  private readonly handler = (sig: NodeJS.Signals) => this.onSignal(sig);
  /** The signal received, once one was. */
  received: NodeJS.Signals | undefined;

  constructor(private readonly out: Output) {
    process.on('SIGINT', this.handler);
    process.on('SIGTERM', this.handler);
  }

  /** Aborted at the first signal (for loops that take an `AbortSignal`). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Whether a signal asked the command to stop. */
  get requested(): boolean {
    return this.received !== undefined;
  }

  private onSignal(sig: NodeJS.Signals): void {
    if (this.received) {
      this.out.stopProgress();
      process.stderr.write(`lopt: ${sig} again: quitting without finishing the step\n`);
      process.exit(INTERRUPTED_EXIT_CODE);
    }
    this.received = sig;
    this.controller.abort();
    if (this.out.interactive) this.out.note(`${sig}: stopping after the current step (again to quit at once)`);
  }

  /** Removes the handlers (the default behaviour of the signals returns). */
  dispose(): void {
    process.off('SIGINT', this.handler);
    process.off('SIGTERM', this.handler);
  }
}
