// AssemblyScript source of the per-element work of `AdafacMLPLOpt`'s fused step, for
// the default shape (three momentum and three Adafactor decays, hidden sizes 4 and 4, two
// outputs). Compiled by `scripts/build-wasm.mjs` into `src/adafac-kernel-wasm.ts`; the
// JavaScript side (`src/adafac-kernel.ts`) owns the memory layout and every per-tensor
// and per-row quantity. Element arithmetic mirrors the JavaScript loops of
// `fused-adafac-step.ts` where they round to float32, so the accumulators come out bit
// for bit the same; the features (reciprocal square roots included) and the 4-wide MLP
// run in float32, SIMD where lanes line up (the 4 hidden units; an unfactored tensor's 3
// accumulators), as the plain float32 ops do, and the sums of squares in float64.

/** Where the heap starts (after the data segments): the JavaScript side allocates from here. */
export function heapBase(): usize {
  return __heap_base;
}

@inline
function ema(decay: f32, prev: f32, x: f32): f32 {
  return decay * prev + (<f32>1 - decay) * x;
}

@inline
function rsqrt64(x: f64): f64 {
  return 1.0 / Math.sqrt(x);
}

/**
 * Pass 0 over a rank-2 factored tensor of `a x b` elements: adds each element's
 * `g^2 + 1e-30` (float64) to its row's and its column's sum (`rowSum` / `colSum`, float64,
 * one per local row / column slot; see `factoredPass1` for the slots).
 */
export function factoredSums(a: i32, b: i32, ri: i32, rj: i32, ci: i32, cj: i32, g: usize, rowSum: usize, colSum: usize): void {
  let e: usize = 0;
  for (let i = 0; i < a; i++) {
    for (let j = 0; j < b; j++) {
      const gi = <f64>load<f32>(g + (e << 2));
      const gs = gi * gi + 1e-30;
      const r = rowSum + (<usize>(i * ri + j * rj) << 3);
      const c = colSum + (<usize>(i * ci + j * cj) << 3);
      store<f64>(r, load<f64>(r) + gs);
      store<f64>(c, load<f64>(c) + gs);
      e++;
    }
  }
}

/** `1 / sqrt(x)` in float32. */
@inline
function rsqrt(x: f32): f32 {
  return <f32>1 / Mathf.sqrt(x);
}

/**
 * Pass 1 over a rank-2 factored tensor of `a x b` elements: new momenta and second
 * moments, and the sums of squares of its 16 element feature columns into `sumsq`
 * (float64). Element `(i, j)` sits in row slot `i * ri + j * rj` and column slot
 * `i * ci + j * cj` of `rowFactor` / `colFactor` (3 per slot).
 */
export function factoredPass1(
  a: i32, b: i32, ri: i32, rj: i32, ci: i32, cj: i32,
  g: usize, mPrev: usize, rmsPrev: usize, m: usize, rms: usize, p: usize,
  rowFactor: usize, colFactor: usize, decays: usize, sumsq: usize,
): void {
  const d0 = load<f32>(decays);
  const d1 = load<f32>(decays, 4);
  const d2 = load<f32>(decays, 8);
  const rd = load<f32>(decays, 12);
  let s0: f64 = 0, s1: f64 = 0, s2: f64 = 0, s3: f64 = 0, s4: f64 = 0, s5: f64 = 0, s6: f64 = 0, s7: f64 = 0;
  let s8: f64 = 0, s9: f64 = 0, s10: f64 = 0, s11: f64 = 0, s12: f64 = 0, s13: f64 = 0, s14: f64 = 0, s15: f64 = 0;
  let e: usize = 0;
  for (let i = 0; i < a; i++) {
    for (let j = 0; j < b; j++) {
      const gi = load<f32>(g + (e << 2));
      const pi = load<f32>(p + (e << 2));
      const rv = ema(rd, load<f32>(rmsPrev + (e << 2)), gi * gi);
      store<f32>(rms + (e << 2), rv);
      const rr = rsqrt(rv + <f32>1e-6);
      const mp = mPrev + e * 12;
      const m0 = ema(d0, load<f32>(mp), gi);
      const m1 = ema(d1, load<f32>(mp, 4), gi);
      const m2 = ema(d2, load<f32>(mp, 8), gi);
      const mo = m + e * 12;
      store<f32>(mo, m0);
      store<f32>(mo, m1, 4);
      store<f32>(mo, m2, 8);
      const r = rowFactor + <usize>(i * ri + j * rj) * 12;
      const c = colFactor + <usize>(i * ci + j * cj) * 12;
      const q0 = load<f32>(r) * load<f32>(c);
      const q1 = load<f32>(r, 4) * load<f32>(c, 4);
      const q2 = load<f32>(r, 8) * load<f32>(c, 8);
      const x3 = <f64>(m0 * rr), x4 = <f64>(m1 * rr), x5 = <f64>(m2 * rr);
      const g0 = <f64>(gi * q0), g1 = <f64>(gi * q1), g2 = <f64>(gi * q2);
      const f0 = <f64>(m0 * q0), f1 = <f64>(m1 * q1), f2 = <f64>(m2 * q2);
      const g64 = <f64>gi;
      const rr64 = <f64>rr;
      s0 += g64 * g64;
      s1 += <f64>pi * <f64>pi;
      s2 += <f64>m0 * <f64>m0;
      s3 += <f64>m1 * <f64>m1;
      s4 += <f64>m2 * <f64>m2;
      s5 += <f64>rv * <f64>rv;
      s6 += x3 * x3;
      s7 += x4 * x4;
      s8 += x5 * x5;
      s9 += rr64 * rr64;
      s10 += g0 * g0;
      s11 += g1 * g1;
      s12 += g2 * g2;
      s13 += f0 * f0;
      s14 += f1 * f1;
      s15 += f2 * f2;
      e++;
    }
  }
  store<f64>(sumsq, s0);
  store<f64>(sumsq, s1, 8);
  store<f64>(sumsq, s2, 16);
  store<f64>(sumsq, s3, 24);
  store<f64>(sumsq, s4, 32);
  store<f64>(sumsq, s5, 40);
  store<f64>(sumsq, s6, 48);
  store<f64>(sumsq, s7, 56);
  store<f64>(sumsq, s8, 64);
  store<f64>(sumsq, s9, 72);
  store<f64>(sumsq, s10, 80);
  store<f64>(sumsq, s11, 88);
  store<f64>(sumsq, s12, 96);
  store<f64>(sumsq, s13, 104);
  store<f64>(sumsq, s14, 112);
  store<f64>(sumsq, s15, 120);
}

@inline
function fma4(acc: v128, x: f32, w: usize): v128 {
  return f32x4.add(acc, f32x4.mul(f32x4.splat(x), v128.load(w)));
}

/**
 * The MLP's second and third layers on first-layer pre-activations `h` (4 lanes), and the
 * step. `net` holds, 16-byte aligned: the 4 x 4 weights as four rows, the bias, the 4 x 2
 * weights as four rows `[w, w, 0, 0]` and the bias `[b, b, 0, 0]`.
 */
@inline
function tail(h: v128, net: usize, pi: f32, expMult: f32, stepMult: f32): f32 {
  const z = f32x4.splat(0);
  const x = f32x4.max(h, z);
  let y = v128.load(net, 64);
  y = f32x4.add(y, f32x4.mul(f32x4.splat(f32x4.extract_lane(x, 0)), v128.load(net)));
  y = f32x4.add(y, f32x4.mul(f32x4.splat(f32x4.extract_lane(x, 1)), v128.load(net, 16)));
  y = f32x4.add(y, f32x4.mul(f32x4.splat(f32x4.extract_lane(x, 2)), v128.load(net, 32)));
  y = f32x4.add(y, f32x4.mul(f32x4.splat(f32x4.extract_lane(x, 3)), v128.load(net, 48)));
  y = f32x4.max(y, z);
  let o = v128.load(net, 144);
  o = f32x4.add(o, f32x4.mul(f32x4.splat(f32x4.extract_lane(y, 0)), v128.load(net, 80)));
  o = f32x4.add(o, f32x4.mul(f32x4.splat(f32x4.extract_lane(y, 1)), v128.load(net, 96)));
  o = f32x4.add(o, f32x4.mul(f32x4.splat(f32x4.extract_lane(y, 2)), v128.load(net, 112)));
  o = f32x4.add(o, f32x4.mul(f32x4.splat(f32x4.extract_lane(y, 3)), v128.load(net, 128)));
  const dir = f32x4.extract_lane(o, 0);
  const mag = f32x4.extract_lane(o, 1);
  return pi - dir * Mathf.exp(mag * expMult) * stepMult;
}

/**
 * Pass 2 over a rank-2 factored tensor: its 16 element features from the new state,
 * through the first layer (`wm`: 16 rows of 4, the normaliser folded in), plus the
 * element's row and column shares (`rowC` / `colC`: 4 per local row / column, the first
 * layer's shift folded into `rowC`), then the rest of the MLP and the step into `out`.
 */
export function factoredPass2(
  a: i32, b: i32, ri: i32, rj: i32, ci: i32, cj: i32,
  g: usize, m: usize, rms: usize, p: usize,
  rowFactor: usize, colFactor: usize, wm: usize, rowC: usize, colC: usize, net: usize,
  expMult: f32, stepMult: f32, out: usize,
): void {
  let e: usize = 0;
  for (let i = 0; i < a; i++) {
    for (let j = 0; j < b; j++) {
      const gi = load<f32>(g + (e << 2));
      const pi = load<f32>(p + (e << 2));
      const rv = load<f32>(rms + (e << 2));
      const rr = rsqrt(rv + <f32>1e-6);
      const mo = m + e * 12;
      const m0 = load<f32>(mo);
      const m1 = load<f32>(mo, 4);
      const m2 = load<f32>(mo, 8);
      const rs = <usize>(i * ri + j * rj);
      const cs = <usize>(i * ci + j * cj);
      const r = rowFactor + rs * 12;
      const c = colFactor + cs * 12;
      const q0 = load<f32>(r) * load<f32>(c);
      const q1 = load<f32>(r, 4) * load<f32>(c, 4);
      const q2 = load<f32>(r, 8) * load<f32>(c, 8);
      let h = f32x4.add(v128.load(rowC + (rs << 4)), v128.load(colC + (cs << 4)));
      h = fma4(h, gi, wm);
      h = fma4(h, pi, wm + 16);
      h = fma4(h, m0, wm + 32);
      h = fma4(h, m1, wm + 48);
      h = fma4(h, m2, wm + 64);
      h = fma4(h, rv, wm + 80);
      h = fma4(h, m0 * rr, wm + 96);
      h = fma4(h, m1 * rr, wm + 112);
      h = fma4(h, m2 * rr, wm + 128);
      h = fma4(h, rr, wm + 144);
      h = fma4(h, gi * q0, wm + 160);
      h = fma4(h, gi * q1, wm + 176);
      h = fma4(h, gi * q2, wm + 192);
      h = fma4(h, m0 * q0, wm + 208);
      h = fma4(h, m1 * q1, wm + 224);
      h = fma4(h, m2 * q2, wm + 240);
      store<f32>(out + (e << 2), tail(h, net, pi, expMult, stepMult));
      e++;
    }
  }
}

/** Lanes 0-2 of three accumulators (momenta or Adafactor accumulators of one element). */
@inline
function lanes3(x: f32, y: f32, z: f32): v128 {
  return f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(1), 0, x), 1, y), 2, z);
}

/** `acc + x * x` for lanes 0-1 (`lo`) or 2-3 (`hi`) of `x`, in float64. */
@inline
function sqLo(acc: v128, x: v128): v128 {
  const d = f64x2.promote_low_f32x4(x);
  return f64x2.add(acc, f64x2.mul(d, d));
}

@inline
function sqHi(acc: v128, x: v128): v128 {
  const d = f64x2.promote_low_f32x4(v128.shuffle<f32>(x, x, 2, 3, 2, 3));
  return f64x2.add(acc, f64x2.mul(d, d));
}

/**
 * Pass 1 over an unfactored tensor of `s` elements (full accumulators `vDiag`, 3 per
 * element): new momenta, second moments and accumulators, and the sums of squares of its
 * 28 feature columns into `sumsq`. The three decays' features are one SIMD vector each.
 */
export function diagPass1(
  s: i32, g: usize, mPrev: usize, rmsPrev: usize, m: usize, rms: usize, p: usize,
  vPrev: usize, v: usize, decays: usize, sumsq: usize,
): void {
  const d0 = load<f32>(decays);
  const d1 = load<f32>(decays, 4);
  const d2 = load<f32>(decays, 8);
  const rd = load<f32>(decays, 12);
  const a0 = load<f32>(decays, 16);
  const a1 = load<f32>(decays, 20);
  const a2 = load<f32>(decays, 24);
  let sg: f64 = 0, sp: f64 = 0, sr: f64 = 0, srr: f64 = 0;
  const z = f64x2.splat(0);
  let mLo = z, mHi = z, mrLo = z, mrHi = z, gqLo = z, gqHi = z;
  let vLo = z, vHi = z, vrLo = z, vrHi = z, mqLo = z, mqHi = z;
  for (let e: usize = 0; e < <usize>s; e++) {
    const gi = load<f32>(g + (e << 2));
    const pi = load<f32>(p + (e << 2));
    const rv = ema(rd, load<f32>(rmsPrev + (e << 2)), gi * gi);
    store<f32>(rms + (e << 2), rv);
    const rr = rsqrt(rv + <f32>1e-6);
    const gs = <f32>(<f64>(gi * gi) + 1e-30);
    const mp = mPrev + e * 12;
    const mo = m + e * 12;
    const vp = vPrev + e * 12;
    const vo = v + e * 12;
    const m0 = ema(d0, load<f32>(mp), gi);
    const m1 = ema(d1, load<f32>(mp, 4), gi);
    const m2 = ema(d2, load<f32>(mp, 8), gi);
    store<f32>(mo, m0);
    store<f32>(mo, m1, 4);
    store<f32>(mo, m2, 8);
    const v0 = ema(a0, load<f32>(vp), gs);
    const v1 = ema(a1, load<f32>(vp, 4), gs);
    const v2 = ema(a2, load<f32>(vp, 8), gs);
    store<f32>(vo, v0);
    store<f32>(vo, v1, 4);
    store<f32>(vo, v2, 8);
    const M = lanes3(m0, m1, m2);
    const V = lanes3(v0, v1, v2);
    const MR = f32x4.mul(M, f32x4.splat(rr));
    const GQ = f32x4.div(f32x4.splat(gi), f32x4.sqrt(f32x4.max(f32x4.add(V, f32x4.splat(1e-9)), f32x4.splat(1e-9))));
    const VR = f32x4.div(f32x4.splat(1), f32x4.sqrt(f32x4.add(V, f32x4.splat(1e-8))));
    const MQ = f32x4.div(M, f32x4.sqrt(f32x4.add(V, f32x4.splat(1e-6))));
    sg += <f64>gi * <f64>gi;
    sp += <f64>pi * <f64>pi;
    sr += <f64>rv * <f64>rv;
    srr += <f64>rr * <f64>rr;
    mLo = sqLo(mLo, M);
    mHi = sqHi(mHi, M);
    mrLo = sqLo(mrLo, MR);
    mrHi = sqHi(mrHi, MR);
    gqLo = sqLo(gqLo, GQ);
    gqHi = sqHi(gqHi, GQ);
    vLo = sqLo(vLo, V);
    vHi = sqHi(vHi, V);
    vrLo = sqLo(vrLo, VR);
    vrHi = sqHi(vrHi, VR);
    mqLo = sqLo(mqLo, MQ);
    mqHi = sqHi(mqHi, MQ);
  }
  store<f64>(sumsq, sg);
  store<f64>(sumsq, sp, 8);
  store<f64>(sumsq, sr, 40);
  store<f64>(sumsq, srr, 72);
  store3(sumsq + 16, mLo, mHi);
  store3(sumsq + 48, mrLo, mrHi);
  store3(sumsq + 80, gqLo, gqHi);
  store3(sumsq + 104, vLo, vHi);
  store3(sumsq + 128, vLo, vHi);
  store3(sumsq + 152, vrLo, vrHi);
  store3(sumsq + 176, vrLo, vrHi);
  store3(sumsq + 200, mqLo, mqHi);
}

@inline
function store3(at: usize, lo: v128, hi: v128): void {
  store<f64>(at, f64x2.extract_lane(lo, 0));
  store<f64>(at, f64x2.extract_lane(lo, 1), 8);
  store<f64>(at, f64x2.extract_lane(hi, 0), 16);
}

/** One decay's six features (each splat over 4 lanes) through their first-layer rows at `wj`. */
@inline
function decayTerms(h: v128, m: v128, mr: v128, gq: v128, v: v128, vr: v128, mq: v128, wj: usize): v128 {
  h = f32x4.add(h, f32x4.mul(m, v128.load(wj + 32)));
  h = f32x4.add(h, f32x4.mul(mr, v128.load(wj + 96)));
  h = f32x4.add(h, f32x4.mul(gq, v128.load(wj + 160)));
  h = f32x4.add(h, f32x4.mul(v, f32x4.add(v128.load(wj + 208), v128.load(wj + 256))));
  h = f32x4.add(h, f32x4.mul(vr, f32x4.add(v128.load(wj + 304), v128.load(wj + 352))));
  return f32x4.add(h, f32x4.mul(mq, v128.load(wj + 400)));
}

/**
 * Pass 2 over an unfactored tensor: its 28 features from the new state through the first
 * layer (`wm`: 28 rows of 4, the normaliser folded in; `shift`: 4), then the rest of the
 * MLP and the step into `out`.
 */
export function diagPass2(
  s: i32, g: usize, m: usize, rms: usize, p: usize, v: usize, wm: usize, shift: usize, net: usize,
  expMult: f32, stepMult: f32, out: usize,
): void {
  const base = v128.load(shift);
  for (let e: usize = 0; e < <usize>s; e++) {
    const gi = load<f32>(g + (e << 2));
    const pi = load<f32>(p + (e << 2));
    const rv = load<f32>(rms + (e << 2));
    const rr = rsqrt(rv + <f32>1e-6);
    let h = fma4(base, gi, wm);
    h = fma4(h, pi, wm + 16);
    h = fma4(h, rv, wm + 80);
    h = fma4(h, rr, wm + 144);
    const mo = m + e * 12;
    const vo = v + e * 12;
    const M = lanes3(load<f32>(mo), load<f32>(mo, 4), load<f32>(mo, 8));
    const V = lanes3(load<f32>(vo), load<f32>(vo, 4), load<f32>(vo, 8));
    const MR = f32x4.mul(M, f32x4.splat(rr));
    const GQ = f32x4.div(f32x4.splat(gi), f32x4.sqrt(f32x4.max(f32x4.add(V, f32x4.splat(1e-9)), f32x4.splat(1e-9))));
    const VR = f32x4.div(f32x4.splat(1), f32x4.sqrt(f32x4.add(V, f32x4.splat(1e-8))));
    const MQ = f32x4.div(M, f32x4.sqrt(f32x4.add(V, f32x4.splat(1e-6))));
    h = decayTerms(
      h,
      v128.shuffle<f32>(M, M, 0, 0, 0, 0),
      v128.shuffle<f32>(MR, MR, 0, 0, 0, 0),
      v128.shuffle<f32>(GQ, GQ, 0, 0, 0, 0),
      v128.shuffle<f32>(V, V, 0, 0, 0, 0),
      v128.shuffle<f32>(VR, VR, 0, 0, 0, 0),
      v128.shuffle<f32>(MQ, MQ, 0, 0, 0, 0),
      wm,
    );
    h = decayTerms(
      h,
      v128.shuffle<f32>(M, M, 1, 1, 1, 1),
      v128.shuffle<f32>(MR, MR, 1, 1, 1, 1),
      v128.shuffle<f32>(GQ, GQ, 1, 1, 1, 1),
      v128.shuffle<f32>(V, V, 1, 1, 1, 1),
      v128.shuffle<f32>(VR, VR, 1, 1, 1, 1),
      v128.shuffle<f32>(MQ, MQ, 1, 1, 1, 1),
      wm + 16,
    );
    h = decayTerms(
      h,
      v128.shuffle<f32>(M, M, 2, 2, 2, 2),
      v128.shuffle<f32>(MR, MR, 2, 2, 2, 2),
      v128.shuffle<f32>(GQ, GQ, 2, 2, 2, 2),
      v128.shuffle<f32>(V, V, 2, 2, 2, 2),
      v128.shuffle<f32>(VR, VR, 2, 2, 2, 2),
      v128.shuffle<f32>(MQ, MQ, 2, 2, 2, 2),
      wm + 32,
    );
    store<f32>(out + (e << 2), tail(h, net, pi, expMult, stepMult));
  }
}
