import cliProgress from 'cli-progress';

/** The flags every command shares. */
export interface GlobalOptions {
  /** tfjs backend name; default: tensorflow when installed, else wasm. */
  backend?: string;
  /** Seed every PRNG key derives from. */
  seed: number;
  /** Folder holding `fashion-mnist/` and `mnist/` (else `LOPT_DATA_DIR`, else the cache). */
  dataDir?: string;
  /** Whether missing datasets may be downloaded (`--no-download` turns it off). */
  download?: boolean;
  /** No progress bars and no per-step log lines; results only. */
  quiet: boolean;
  /** Machine-readable output: JSON lines on stdout, nothing else there. */
  json: boolean;
}

/** A progress bar, or a stand-in doing nothing when output is not an interactive terminal. */
export interface Progress {
  /** Sets the position (completed units) and the text shown after the bar. */
  update(value: number, info?: string): void;
  /** Ends the bar, leaving its last state on screen. */
  stop(): void;
}

/**
 * Where a command's output goes. Human lines go to stdout unless `--quiet` or `--json`;
 * with `--json` stdout carries JSON lines only. Progress bars go to stderr, and only
 * when stderr is a terminal (a CI log or a pipe gets none).
 */
export class Output {
  private bars: cliProgress.MultiBar | undefined;

  constructor(readonly opts: Pick<GlobalOptions, 'quiet' | 'json'>) {
    // Whatever ends the process (an error, a second Ctrl-C), the terminal gets its line wrap back.
    process.on('exit', () => this.stopProgress());
  }

  /** Whether progress bars are drawn. */
  get interactive(): boolean {
    return Boolean(process.stderr.isTTY) && !this.opts.quiet && !this.opts.json;
  }

  /** A human-readable log line (hidden by `--quiet` and `--json`). */
  log(line: string): void {
    if (this.opts.quiet || this.opts.json) return;
    if (this.bars) this.bars.log(`${line}\n`);
    else process.stdout.write(`${line}\n`);
  }

  /** A machine-readable record: one JSON line on stdout with `--json`, else nothing. */
  record(obj: unknown): void {
    if (this.opts.json) process.stdout.write(`${JSON.stringify(obj, finite)}\n`);
  }

  /** The command's result: `obj` as a JSON line with `--json`, else `text` (shown even with `--quiet`). */
  result(text: string, obj: unknown): void {
    if (this.opts.json) process.stdout.write(`${JSON.stringify(obj, finite)}\n`);
    else process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** A warning on stderr (hidden by `--quiet`). */
  warn(line: string): void {
    if (this.opts.quiet) return;
    if (this.bars) this.bars.log(`lopt: warning: ${line}\n`);
    else process.stderr.write(`lopt: warning: ${line}\n`);
  }

  /** A status note on stderr, above the progress bars when they are drawn (hidden by `--quiet`). */
  note(line: string): void {
    if (this.opts.quiet) return;
    if (this.bars) this.bars.log(`lopt: ${line}\n`);
    else process.stderr.write(`lopt: ${line}\n`);
  }

  /** Stops every progress bar, giving the terminal back its cursor and line wrap. */
  stopProgress(): void {
    this.bars?.stop();
    this.bars = undefined;
  }

  /** A progress bar over `total` units labelled `label`, showing rate and ETA. */
  progress(total: number, label: string, unit = 'it'): Progress {
    if (!this.interactive) return { update() {}, stop() {} };
    this.bars ??= new cliProgress.MultiBar(
      {
        stream: process.stderr,
        format: ' {label} |{bar}| {value}/{total} | {rate} {unit}/s | ETA {eta_formatted} | {info}',
        // The cursor stays visible: a Ctrl-C mid-bar must not leave the terminal without one.
        hideCursor: false,
        clearOnComplete: false,
        etaBuffer: 50,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
    const start = Date.now();
    const bar = this.bars.create(total, 0, { label, unit, rate: '-', info: '' });
    let stopped = false;
    return {
      update: (value, info) => {
        const secs = (Date.now() - start) / 1000;
        const rate = secs > 0 ? (value / secs).toPrecision(3) : '-';
        bar.update(value, { rate, info: info ?? '' });
      },
      stop: () => {
        if (stopped) return;
        stopped = true;
        bar.stop();
        this.bars?.stop();
        this.bars = undefined;
      },
    };
  }
}

function finite(_k: string, v: unknown): unknown {
  return typeof v === 'number' && !Number.isFinite(v) ? String(v) : v;
}
