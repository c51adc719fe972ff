import type { DemoConfig, DemoStep } from './training';

/** Backends the page offers; `auto` tries WebGL and falls back to wasm. */
export type DemoBackend = 'wasm' | 'webgl' | 'auto';

/** Page -> worker. */
export type ToWorker =
  | {
      type: 'start';
      config: DemoConfig;
      backend: DemoBackend;
      /** Absolute URL of the folder holding the tfjs-backend-wasm `.wasm` files. */
      wasmBase: string;
      /** Absolute URL of the folder holding the four Fashion-MNIST `.gz` files. */
      dataBase: string;
    }
  | { type: 'stop' };

/** Worker -> page. */
export type FromWorker =
  | { type: 'backend'; name: string }
  | { type: 'status'; text: string }
  /** Bytes of the dataset received so far, of `totalBytes` for all its files (when the site lists their sizes). */
  | { type: 'download'; receivedBytes: number; totalBytes: number | undefined }
  | { type: 'step'; step: DemoStep }
  | { type: 'done'; stopped: boolean; iterations: number }
  | { type: 'error'; message: string };
