// The messages every training demo of the site exchanges with its Web Worker; each demo
// adds its own (its config, its steps) in its protocol.ts.

/** Page -> worker: start a run of `config` (with the demo's `Extra` fields), or stop it after this step. */
export type ToTrainingWorker<Config, Extra extends object = object> =
  | ({
      type: 'start';
      config: Config;
      /** Absolute URL of the folder holding the tfjs-backend-wasm `.wasm` files. */
      wasmBase: string;
      /** Absolute URL of the folder holding the four Fashion-MNIST `.gz` files. */
      dataBase: string;
    } & Extra)
  | { type: 'stop' };

/** Worker -> page: the messages every demo sends (the backend in use, a status line, a failure). */
export type CommonFromWorker =
  | { type: 'backend'; name: string }
  | { type: 'status'; text: string }
  | { type: 'error'; message: string };
