import { finiteOrZero, weightedMeanOfStacked } from './common.js';

/** How ES turns loss differences into a gradient; shared by the ES-family estimators. */
export interface EsGradOptions {
  /** Perturbation standard deviation. */
  std: number;
  /** Clip each problem's loss difference to `[-clipLossDiff, clipLossDiff]`. */
  clipLossDiff?: number;
  /** Use `sign(delta) * this` instead of the loss difference. */
  signDeltaLossScalar?: number;
}

/** Cleans one loss difference: non-finite -> 0, then clipping, then the sign option. */
export function processDelta(delta: number, o: EsGradOptions): number {
  let d = finiteOrZero(delta);
  if (o.clipLossDiff !== undefined) d = Math.min(o.clipLossDiff, Math.max(-o.clipLossDiff, d));
  if (o.signDeltaLossScalar !== undefined) d = Math.sign(d) * o.signDeltaLossScalar;
  return d;
}

/**
 * The antithetic ES estimate `mean_k (L+_k - L-_k) / (2 std^2) * eps_k` and the mean loss
 * `mean_k (L+_k + L-_k) / 2` (the reference's `_es_grad`).
 */
export function esGrad<Theta>(pos: Theta, posLoss: number[], negLoss: number[], o: EsGradOptions): [number, Theta] {
  const factor = 1 / (2 * o.std * o.std);
  const coeffs = posLoss.map((p, k) => processDelta(p - negLoss[k]!, o) * factor);
  const meanLoss = posLoss.reduce((a, p, k) => a + (p + negLoss[k]!) / 2, 0) / posLoss.length;
  return [meanLoss, weightedMeanOfStacked(pos, coeffs)];
}
