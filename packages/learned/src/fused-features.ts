/*
 * Pieces the fused learned-optimizer steps (`fused-mlp-lopt-step.ts`,
 * `fused-adafac-step.ts`) share: the float32 moving average, the feature scratch buffer
 * and the per-tensor normaliser folded into the first layer's weights.
 */

let scratch = new Float32Array(0);

/**
 * A scratch buffer of at least `floats` floats for a tensor's feature rows, shared by the
 * fused steps (they never run inside each other) and grown, never shrunk, so a step
 * allocates it once.
 */
export function featureScratch(floats: number): Float32Array {
  if (scratch.length < floats) scratch = new Float32Array(floats);
  return scratch;
}

/** `decay * prev + (1 - decay) * x` rounded to float32 after each op, as the plain float32 ops round it. */
export function ema(decay: number, prev: number, x: number): number {
  return Math.fround(Math.fround(decay * prev) + Math.fround(Math.fround(1 - decay) * x));
}

/**
 * The per-tensor feature normaliser `rsqrt(mean(x^2) + 1e-5)` folded into the first
 * layer's weights: row `r` of `wm` (`[cols.length, hidden]`) is feature `cols[r]`'s row of
 * `w0` (`[features, hidden]`) times its normaliser, from the feature's sum of squares over
 * the tensor's `count` elements.
 */
export function foldNormaliser(
  wm: Float32Array,
  w0: Float32Array,
  sumsq: Float64Array,
  count: number,
  cols: readonly number[],
  hidden: number,
): void {
  for (let r = 0; r < cols.length; r++) {
    const k = cols[r]!;
    const sc = 1 / Math.sqrt(sumsq[k]! / count + 1e-5);
    for (let q = 0; q < hidden; q++) wm[r * hidden + q] = sc * w0[k * hidden + q]!;
  }
}

/**
 * One element's momenta for the generic (not unrolled) feature loops: the new values
 * `ema(decays[j], mPrev[i * k + j], g)` into `m[i * k + j]` and into the feature columns
 * `feat[f + 2 + j]` (after the gradient and the parameter), for the `k` decays.
 */
export function momentaFeatures(
  feat: Float32Array,
  f: number,
  m: Float32Array,
  mPrev: Float32Array,
  i: number,
  decays: Float32Array,
  g: number,
): void {
  const k = decays.length;
  for (let j = 0; j < k; j++) {
    const mv = ema(decays[j]!, mPrev[i * k + j]!, g);
    m[i * k + j] = mv;
    feat[f + 2 + j] = mv;
  }
}
