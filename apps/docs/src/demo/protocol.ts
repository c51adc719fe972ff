import type { CommonFromWorker, ToTrainingWorker } from '../training-worker/protocol';
import type { DemoConfig, DemoStep } from './training';

/** Backends the page offers; `auto` tries WebGL and falls back to wasm. */
export type DemoBackend = 'wasm' | 'webgl' | 'auto';

/** Page -> worker. */
export type ToWorker = ToTrainingWorker<DemoConfig, { backend: DemoBackend }>;

/** Worker -> page. */
export type FromWorker =
  | CommonFromWorker
  /** Bytes of the dataset received so far, of `totalBytes` for all its files (when the site lists their sizes). */
  | { type: 'download'; receivedBytes: number; totalBytes: number | undefined }
  | { type: 'step'; step: DemoStep }
  | { type: 'done'; stopped: boolean; iterations: number };
