/**
 * Node flags for worker processes started to fill a machine's cores (one worker per
 * core). `--single-threaded-gc` keeps V8's garbage collection on the worker's own thread:
 * by default it also runs on helper threads, so a lone worker keeps about 1.3 cores busy
 * and two workers on two cores slow each other down. On a 2-core machine the flag made
 * both 1 worker and 2 workers faster, and 2 workers gained more over 1 (the bench's
 * distributed rows). Pass them before the script: `node --single-threaded-gc lopt.js ...`.
 */
export const WORKER_NODE_FLAGS: readonly string[] = ['--single-threaded-gc'];
