import type { CommonFromWorker, ToTrainingWorker } from '../training-worker/protocol';
import type { LayersDemoConfig, LayersDemoEpoch, LayersDemoStep } from './training';

/** Page -> worker. */
export type ToLayersWorker = ToTrainingWorker<LayersDemoConfig>;

/** Worker -> page. */
export type FromLayersWorker =
  | CommonFromWorker
  | { type: 'step'; step: LayersDemoStep }
  | { type: 'epoch'; epoch: LayersDemoEpoch }
  | { type: 'done'; stopped: boolean; epochs: number };
