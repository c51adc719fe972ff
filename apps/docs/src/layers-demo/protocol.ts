import type { LayersDemoConfig, LayersDemoEpoch, LayersDemoStep } from './training';

/** Page -> worker. */
export type ToLayersWorker =
  | {
      type: 'start';
      config: LayersDemoConfig;
      /** Absolute URL of the folder holding the tfjs-backend-wasm `.wasm` files. */
      wasmBase: string;
      /** Absolute URL of the folder holding the four Fashion-MNIST `.gz` files. */
      dataBase: string;
    }
  | { type: 'stop' };

/** Worker -> page. */
export type FromLayersWorker =
  | { type: 'backend'; name: string }
  | { type: 'status'; text: string }
  | { type: 'step'; step: LayersDemoStep }
  | { type: 'epoch'; epoch: LayersDemoEpoch }
  | { type: 'done'; stopped: boolean; epochs: number }
  | { type: 'error'; message: string };
