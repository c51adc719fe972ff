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

/**
 * `exp` of four float32 lanes without a lookup table (the module has no data, so it can
 * run on memory it does not own): `2^k * exp(r)` with `k = round(x / ln 2)`, `r` reduced
 * by `ln 2` split in two parts, and `exp(r)` by its Taylor polynomial to degree 7 on
 * `|r| <= ln 2 / 2` (within 2 ulp of float64's exp over [-104, 89]: the most
 * found in 16M points is 1.77); `2^k` as two powers of two so that every `k` from -150
 * to 128 stays a normal number. Infinite past the float32 range, 0 below it.
 */
@inline
function expf4(x: v128): v128 {
  // pmin / pmax (one instruction each, where min / max are a NaN-correct sequence) return
  // their first operand when the comparison fails, so a NaN still comes through.
  const xc = f32x4.pmax(f32x4.pmin(x, f32x4.splat(88.72283)), f32x4.splat(-104));
  const k = f32x4.nearest(f32x4.mul(xc, f32x4.splat(1.4426950408889634)));
  let r = f32x4.sub(xc, f32x4.mul(k, f32x4.splat(0.693145751953125)));
  r = f32x4.sub(r, f32x4.mul(k, f32x4.splat(1.4286068203094172e-6)));
  // exp(r) to degree 7 by Estrin's scheme: the four pairs, then two, then one (three
  // dependent multiply-adds rather than Horner's seven).
  const r2 = f32x4.mul(r, r);
  const r4 = f32x4.mul(r2, r2);
  const p01 = f32x4.add(f32x4.splat(1), r);
  const p23 = f32x4.add(f32x4.splat(0.5), f32x4.mul(f32x4.splat(<f32>(1.0 / 6)), r));
  const p45 = f32x4.add(f32x4.splat(<f32>(1.0 / 24)), f32x4.mul(f32x4.splat(<f32>(1.0 / 120)), r));
  const p67 = f32x4.add(f32x4.splat(<f32>(1.0 / 720)), f32x4.mul(f32x4.splat(<f32>(1.0 / 5040)), r));
  const q = f32x4.add(f32x4.add(p01, f32x4.mul(p23, r2)), f32x4.mul(f32x4.add(p45, f32x4.mul(p67, r2)), r4));
  // k is a whole number in [-150, 128]: added to 1.5 * 2^23 it sits in the low bits of the
  // sum exactly (cheaper than a saturating float-to-int conversion).
  const magic = f32x4.splat(12582912);
  const ki = i32x4.sub(f32x4.add(k, magic), magic);
  const k1 = i32x4.shr_s(ki, 1);
  const k2 = i32x4.sub(ki, k1);
  const bias = i32x4.splat(127);
  const y = f32x4.mul(f32x4.mul(q, i32x4.shl(i32x4.add(k1, bias), 23)), i32x4.shl(i32x4.add(k2, bias), 23));
  return v128.bitselect(f32x4.splat(Infinity), y, f32x4.gt(x, f32x4.splat(88.72283)));
}

/**
 * `factoredSums` four elements at a time for a tensor whose inner index `j` runs along
 * the varying slot (`varSum`, one per `j`) and whose outer index `i` is the fixed slot
 * (`fixedSum`, one per `i`). Each sum gets its terms in the same order as the
 * one-element loop (the fixed slot's lane by lane), so the float64 sums are the same.
 */
export function factoredSumsX4(a: i32, b: i32, g: usize, fixedSum: usize, varSum: usize): void {
  const b4 = b & ~3;
  const tiny = f64x2.splat(1e-30);
  for (let i = 0; i < a; i++) {
    const row = <usize>i * <usize>b;
    let acc = load<f64>(fixedSum + (<usize>i << 3));
    for (let j = 0; j < b4; j += 4) {
      const G = v128.load(g + ((row + <usize>j) << 2));
      const lo = f64x2.promote_low_f32x4(G);
      const hi = f64x2.promote_low_f32x4(v128.shuffle<f32>(G, G, 2, 3, 2, 3));
      const slo = f64x2.add(f64x2.mul(lo, lo), tiny);
      const shi = f64x2.add(f64x2.mul(hi, hi), tiny);
      const vs = varSum + (<usize>j << 3);
      v128.store(vs, f64x2.add(v128.load(vs), slo));
      v128.store(vs, f64x2.add(v128.load(vs, 16), shi), 16);
      acc += f64x2.extract_lane(slo, 0);
      acc += f64x2.extract_lane(slo, 1);
      acc += f64x2.extract_lane(shi, 0);
      acc += f64x2.extract_lane(shi, 1);
    }
    for (let j = b4; j < b; j++) {
      const gi = <f64>load<f32>(g + ((row + <usize>j) << 2));
      const gs = gi * gi + 1e-30;
      const vs = varSum + (<usize>j << 3);
      store<f64>(vs, load<f64>(vs) + gs);
      acc += gs;
    }
    store<f64>(fixedSum + (<usize>i << 3), acc);
  }
}

/** `1 / sqrt(x)` in float32. */
@inline
function rsqrt(x: f32): f32 {
  return <f32>1 / Mathf.sqrt(x);
}

/**
 * Pass 1 over a rank-2 factored tensor of `a x b` elements: new momenta and second
 * moments, and the sums of squares of its 16 element feature columns added to `sumsq`
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
  addTo(sumsq, 0, s0);
  addTo(sumsq, 8, s1);
  addTo(sumsq, 16, s2);
  addTo(sumsq, 24, s3);
  addTo(sumsq, 32, s4);
  addTo(sumsq, 40, s5);
  addTo(sumsq, 48, s6);
  addTo(sumsq, 56, s7);
  addTo(sumsq, 64, s8);
  addTo(sumsq, 72, s9);
  addTo(sumsq, 80, s10);
  addTo(sumsq, 88, s11);
  addTo(sumsq, 96, s12);
  addTo(sumsq, 104, s13);
  addTo(sumsq, 112, s14);
  addTo(sumsq, 120, s15);
}

@inline
function addTo(at: usize, offset: usize, x: f64): void {
  store<f64>(at + offset, load<f64>(at + offset) + x);
}

/** `x0 x1 x2` of 4 consecutive elements (lanes `M0`, `M1`, `M2`) interleaved back into 12 floats at `at`. */
@inline
function interleave3(at: usize, M0: v128, M1: v128, M2: v128): void {
  const t = v128.shuffle<f32>(M0, M1, 0, 4, 1, 5);
  const u = v128.shuffle<f32>(M0, M1, 2, 6, 3, 7);
  v128.store(at, v128.shuffle<f32>(t, M2, 0, 1, 4, 2));
  v128.store(at, v128.shuffle<f32>(v128.shuffle<f32>(t, M2, 3, 5, 3, 5), u, 0, 1, 4, 5), 16);
  v128.store(at, v128.shuffle<f32>(u, M2, 6, 2, 3, 7), 32);
}

/** Adds the four lanes of `acc` (float32) to the float64 at `at`. */
@inline
function flush(at: usize, acc: v128): void {
  const lo = f64x2.promote_low_f32x4(acc);
  const hi = f64x2.promote_low_f32x4(v128.shuffle<f32>(acc, acc, 2, 3, 2, 3));
  const s = f64x2.add(lo, hi);
  store<f64>(at, load<f64>(at) + f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1));
}

/**
 * `factoredPass1` four elements at a time (lanes = elements) for a tensor laid out as in
 * `factoredPass2x4` (`fixedFactor` per outer index `i`, `varFactor` per inner index `j`).
 * The state comes out bit for bit as the one-element loop's. The squares of the features
 * add up in float32 lanes over at most 64 groups of four, then into `sumsq` in float64.
 */
export function factoredPass1x4(
  a: i32, b: i32,
  g: usize, mPrev: usize, rmsPrev: usize, m: usize, rms: usize, p: usize,
  fixedFactor: usize, varFactor: usize, decays: usize, sumsq: usize,
): void {
  const D0 = f32x4.splat(load<f32>(decays));
  const D1 = f32x4.splat(load<f32>(decays, 4));
  const D2 = f32x4.splat(load<f32>(decays, 8));
  const RD = f32x4.splat(load<f32>(decays, 12));
  const one = f32x4.splat(1);
  const E0 = f32x4.sub(one, D0);
  const E1 = f32x4.sub(one, D1);
  const E2 = f32x4.sub(one, D2);
  const ER = f32x4.sub(one, RD);
  const eps = f32x4.splat(1e-6);
  const b4 = b & ~3;
  const z = f32x4.splat(0);
  for (let i = 0; i < a; i++) {
    const ff = fixedFactor + <usize>i * 12;
    const F0 = f32x4.splat(load<f32>(ff));
    const F1 = f32x4.splat(load<f32>(ff, 4));
    const F2 = f32x4.splat(load<f32>(ff, 8));
    const row = <usize>i * <usize>b;
    let j = 0;
    while (j < b4) {
      let a0 = z, a1 = z, a2 = z, a3 = z, a4 = z, a5 = z, a6 = z, a7 = z;
      let a8 = z, a9 = z, a10 = z, a11 = z, a12 = z, a13 = z, a14 = z, a15 = z;
      const end = min(b4, j + 256);
      for (; j < end; j += 4) {
        const e = row + <usize>j;
        const G = v128.load(g + (e << 2));
        const P = v128.load(p + (e << 2));
        // ema(d, prev, x) = d * prev + (1 - d) * x, as the one-element loop rounds it.
        const RV = f32x4.add(f32x4.mul(RD, v128.load(rmsPrev + (e << 2))), f32x4.mul(ER, f32x4.mul(G, G)));
        v128.store(rms + (e << 2), RV);
        const RR = f32x4.div(one, f32x4.sqrt(f32x4.add(RV, eps)));
        const mp = mPrev + e * 12;
        const ma = v128.load(mp);
        const mb = v128.load(mp, 16);
        const mc = v128.load(mp, 32);
        const M0 = f32x4.add(f32x4.mul(D0, deinterleave0(ma, mb, mc)), f32x4.mul(E0, G));
        const M1 = f32x4.add(f32x4.mul(D1, deinterleave1(ma, mb, mc)), f32x4.mul(E1, G));
        const M2 = f32x4.add(f32x4.mul(D2, deinterleave2(ma, mb, mc)), f32x4.mul(E2, G));
        interleave3(m + e * 12, M0, M1, M2);
        const vf = varFactor + <usize>j * 12;
        const va = v128.load(vf);
        const vb = v128.load(vf, 16);
        const vc = v128.load(vf, 32);
        const Q0 = f32x4.mul(F0, deinterleave0(va, vb, vc));
        const Q1 = f32x4.mul(F1, deinterleave1(va, vb, vc));
        const Q2 = f32x4.mul(F2, deinterleave2(va, vb, vc));
        a0 = f32x4.add(a0, f32x4.mul(G, G));
        a1 = f32x4.add(a1, f32x4.mul(P, P));
        a2 = f32x4.add(a2, f32x4.mul(M0, M0));
        a3 = f32x4.add(a3, f32x4.mul(M1, M1));
        a4 = f32x4.add(a4, f32x4.mul(M2, M2));
        a5 = f32x4.add(a5, f32x4.mul(RV, RV));
        const X6 = f32x4.mul(M0, RR);
        const X7 = f32x4.mul(M1, RR);
        const X8 = f32x4.mul(M2, RR);
        a6 = f32x4.add(a6, f32x4.mul(X6, X6));
        a7 = f32x4.add(a7, f32x4.mul(X7, X7));
        a8 = f32x4.add(a8, f32x4.mul(X8, X8));
        a9 = f32x4.add(a9, f32x4.mul(RR, RR));
        const X10 = f32x4.mul(G, Q0);
        const X11 = f32x4.mul(G, Q1);
        const X12 = f32x4.mul(G, Q2);
        a10 = f32x4.add(a10, f32x4.mul(X10, X10));
        a11 = f32x4.add(a11, f32x4.mul(X11, X11));
        a12 = f32x4.add(a12, f32x4.mul(X12, X12));
        const X13 = f32x4.mul(M0, Q0);
        const X14 = f32x4.mul(M1, Q1);
        const X15 = f32x4.mul(M2, Q2);
        a13 = f32x4.add(a13, f32x4.mul(X13, X13));
        a14 = f32x4.add(a14, f32x4.mul(X14, X14));
        a15 = f32x4.add(a15, f32x4.mul(X15, X15));
      }
      flush(sumsq, a0);
      flush(sumsq + 8, a1);
      flush(sumsq + 16, a2);
      flush(sumsq + 24, a3);
      flush(sumsq + 32, a4);
      flush(sumsq + 40, a5);
      flush(sumsq + 48, a6);
      flush(sumsq + 56, a7);
      flush(sumsq + 64, a8);
      flush(sumsq + 72, a9);
      flush(sumsq + 80, a10);
      flush(sumsq + 88, a11);
      flush(sumsq + 96, a12);
      flush(sumsq + 104, a13);
      flush(sumsq + 112, a14);
      flush(sumsq + 120, a15);
    }
  }
  if (b4 < b) {
    // The remainder columns, one element at a time.
    for (let i = 0; i < a; i++) {
      const off = <usize>i * <usize>b + <usize>b4;
      factoredPass1(
        1, b - b4, 0, 0, 0, 1,
        g + (off << 2), mPrev + off * 12, rmsPrev + (off << 2), m + off * 12, rms + (off << 2), p + (off << 2),
        fixedFactor + <usize>i * 12, varFactor + <usize>b4 * 12, decays, sumsq,
      );
    }
  }
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
  // ReLU as pmax: one instruction, and a NaN comes through (see expf4).
  const x = f32x4.pmax(h, z);
  let y = v128.load(net, 64);
  y = f32x4.add(y, f32x4.mul(f32x4.splat(f32x4.extract_lane(x, 0)), v128.load(net)));
  y = f32x4.add(y, f32x4.mul(f32x4.splat(f32x4.extract_lane(x, 1)), v128.load(net, 16)));
  y = f32x4.add(y, f32x4.mul(f32x4.splat(f32x4.extract_lane(x, 2)), v128.load(net, 32)));
  y = f32x4.add(y, f32x4.mul(f32x4.splat(f32x4.extract_lane(x, 3)), v128.load(net, 48)));
  y = f32x4.pmax(y, z);
  let o = v128.load(net, 144);
  o = f32x4.add(o, f32x4.mul(f32x4.splat(f32x4.extract_lane(y, 0)), v128.load(net, 80)));
  o = f32x4.add(o, f32x4.mul(f32x4.splat(f32x4.extract_lane(y, 1)), v128.load(net, 96)));
  o = f32x4.add(o, f32x4.mul(f32x4.splat(f32x4.extract_lane(y, 2)), v128.load(net, 112)));
  o = f32x4.add(o, f32x4.mul(f32x4.splat(f32x4.extract_lane(y, 3)), v128.load(net, 128)));
  const dir = f32x4.extract_lane(o, 0);
  const mag = f32x4.extract_lane(o, 1);
  return pi - dir * f32x4.extract_lane(expf4(f32x4.splat(mag * expMult)), 0) * stepMult;
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

/** The element lanes of a decay: lane `j` of `[x0 x1 x2]` for 4 consecutive elements stored 3 apart (12 floats at `at`). */
@inline
function deinterleave0(a: v128, b: v128, c: v128): v128 {
  return v128.shuffle<f32>(v128.shuffle<f32>(a, b, 0, 3, 6, 7), c, 0, 1, 2, 5);
}

@inline
function deinterleave1(a: v128, b: v128, c: v128): v128 {
  return v128.shuffle<f32>(v128.shuffle<f32>(a, b, 1, 4, 7, 0), c, 0, 1, 2, 6);
}

@inline
function deinterleave2(a: v128, b: v128, c: v128): v128 {
  return v128.shuffle<f32>(v128.shuffle<f32>(a, b, 2, 5, 0, 0), c, 0, 1, 4, 7);
}

/** `acc + x * splat(w)`, the weight pre-splat at `w`. */
@inline
function mad(acc: v128, x: v128, w: usize): v128 {
  return f32x4.add(acc, f32x4.mul(x, v128.load(w)));
}

/**
 * `factoredPass2` four elements at a time (SIMD lanes = elements) for a tensor stored so
 * that one slot (its row or its column: `fixedFactor` / `fixedC`, per outer index `i`)
 * is the same along the inner index `j` and the other (`varFactor` / `varC`) is `j`
 * itself; the row and column roles are symmetric in the update, so either orientation
 * maps onto this. `splat` is scratch for 103 pre-splat vectors (1.65 KB: the weights,
 * then the fixed slot's factors and shares). It rearranges the first `b - b % 4` slots
 * of `varFactor` and `varC` in place; the last `b % 4` elements of each outer row take
 * the one-element loop.
 */
export function factoredPass2x4(
  a: i32, b: i32,
  g: usize, m: usize, rms: usize, p: usize,
  fixedFactor: usize, varFactor: usize, wm: usize, fixedC: usize, varC: usize, net: usize,
  expMult: f32, stepMult: f32, out: usize, splat: usize,
): void {
  // Pre-splat weights: 16 x 4 first-layer, 4 x 4 second, its bias, 4 x 2 third, its bias.
  for (let k: usize = 0; k < 64; k++) v128.store(splat + (k << 4), f32x4.splat(load<f32>(wm + (k << 2))));
  for (let k: usize = 0; k < 20; k++) v128.store(splat + ((64 + k) << 4), f32x4.splat(load<f32>(net + (k << 2))));
  for (let q: usize = 0; q < 4; q++) {
    v128.store(splat + ((84 + 2 * q) << 4), f32x4.splat(load<f32>(net + 80 + (q << 4))));
    v128.store(splat + ((85 + 2 * q) << 4), f32x4.splat(load<f32>(net + 84 + (q << 4))));
  }
  v128.store(splat + (92 << 4), f32x4.splat(load<f32>(net, 144)));
  v128.store(splat + (93 << 4), f32x4.splat(load<f32>(net, 148)));
  const one = f32x4.splat(1);
  const eps = f32x4.splat(1e-6);
  const b4 = b & ~3;
  // The fixed slot's factors and first-layer shares, pre-splat per outer index at 96-102:
  // read from memory where used rather than held in registers through the loop.
  const fs = splat + (96 << 4);
  // The varying slot's factors and first-layer shares, rearranged in place (each tensor
  // has slots of its own, written for this step, which nothing reads after this pass;
  // pass 1 is done with them) so that the loop loads them with lanes = elements: per
  // group of four slots, its factors as three vectors (one per decay) and its shares as
  // four (one per unit). The last b % 4 slots stay as they are for the one-element loop.
  for (let j = 0; j < b4; j += 4) {
    const vf = varFactor + <usize>j * 12;
    const va = v128.load(vf);
    const vb = v128.load(vf, 16);
    const vc = v128.load(vf, 32);
    v128.store(vf, deinterleave0(va, vb, vc));
    v128.store(vf, deinterleave1(va, vb, vc), 16);
    v128.store(vf, deinterleave2(va, vb, vc), 32);
    const vcp = varC + (<usize>j << 4);
    const r0 = v128.load(vcp);
    const r1 = v128.load(vcp, 16);
    const r2 = v128.load(vcp, 32);
    const r3 = v128.load(vcp, 48);
    const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
    const t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
    const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
    const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
    v128.store(vcp, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
    v128.store(vcp, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), 16);
    v128.store(vcp, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), 32);
    v128.store(vcp, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), 48);
  }
  for (let i = 0; i < a; i++) {
    const ff = fixedFactor + <usize>i * 12;
    const fc = fixedC + (<usize>i << 4);
    for (let k: usize = 0; k < 3; k++) v128.store(fs + (k << 4), f32x4.splat(load<f32>(ff + (k << 2))));
    for (let k: usize = 0; k < 4; k++) v128.store(fs + ((3 + k) << 4), f32x4.splat(load<f32>(fc + (k << 2))));
    const row = <usize>i * <usize>b;
    for (let j = 0; j < b4; j += 4) {
      const e = row + <usize>j;
      const vcp = varC + (<usize>j << 4);
      let H0 = f32x4.add(v128.load(fs, 48), v128.load(vcp));
      let H1 = f32x4.add(v128.load(fs, 64), v128.load(vcp, 16));
      let H2 = f32x4.add(v128.load(fs, 80), v128.load(vcp, 32));
      let H3 = f32x4.add(v128.load(fs, 96), v128.load(vcp, 48));
      // The 16 element features through the first layer, in an order that lets each
      // value die soon after it is made (fewer live vectors than registers).
      const G = v128.load(g + (e << 2));
      H0 = mad(H0, G, splat + 0);
      H1 = mad(H1, G, splat + 16);
      H2 = mad(H2, G, splat + 32);
      H3 = mad(H3, G, splat + 48);
      const P = v128.load(p + (e << 2));
      H0 = mad(H0, P, splat + 64);
      H1 = mad(H1, P, splat + 80);
      H2 = mad(H2, P, splat + 96);
      H3 = mad(H3, P, splat + 112);
      const RV = v128.load(rms + (e << 2));
      H0 = mad(H0, RV, splat + 320);
      H1 = mad(H1, RV, splat + 336);
      H2 = mad(H2, RV, splat + 352);
      H3 = mad(H3, RV, splat + 368);
      const RR = f32x4.div(one, f32x4.sqrt(f32x4.add(RV, eps)));
      H0 = mad(H0, RR, splat + 576);
      H1 = mad(H1, RR, splat + 592);
      H2 = mad(H2, RR, splat + 608);
      H3 = mad(H3, RR, splat + 624);
      const mo = m + e * 12;
      const vf = varFactor + <usize>j * 12;
      for (let k = 0; k < 3; k++) {
        const ma = v128.load(mo);
        const mb = v128.load(mo, 16);
        const mc = v128.load(mo, 32);
        const M = k == 0 ? deinterleave0(ma, mb, mc) : k == 1 ? deinterleave1(ma, mb, mc) : deinterleave2(ma, mb, mc);
        const V = v128.load(vf + (<usize>k << 4));
        const w = splat + (<usize>k << 6);
        H0 = mad(H0, M, w + 128);
        H1 = mad(H1, M, w + 144);
        H2 = mad(H2, M, w + 160);
        H3 = mad(H3, M, w + 176);
        const MR = f32x4.mul(M, RR);
        H0 = mad(H0, MR, w + 384);
        H1 = mad(H1, MR, w + 400);
        H2 = mad(H2, MR, w + 416);
        H3 = mad(H3, MR, w + 432);
        const Q = f32x4.mul(v128.load(fs + (<usize>k << 4)), V);
        const GQ = f32x4.mul(G, Q);
        H0 = mad(H0, GQ, w + 640);
        H1 = mad(H1, GQ, w + 656);
        H2 = mad(H2, GQ, w + 672);
        H3 = mad(H3, GQ, w + 688);
        const MQ = f32x4.mul(M, Q);
        H0 = mad(H0, MQ, w + 832);
        H1 = mad(H1, MQ, w + 848);
        H2 = mad(H2, MQ, w + 864);
        H3 = mad(H3, MQ, w + 880);
      }
      v128.store(out + (e << 2), tail4(H0, H1, H2, H3, v128.load(p + (e << 2)), splat + (64 << 4), expMult, stepMult));
    }
  }
  if (b4 < b) {
    // The remainder columns, one element at a time.
    for (let i = 0; i < a; i++) {
      const off = <usize>i * <usize>b + <usize>b4;
      factoredPass2(
        1, b - b4, 0, 0, 0, 1,
        g + (off << 2), m + off * 12, rms + (off << 2), p + (off << 2),
        fixedFactor + <usize>i * 12, varFactor + <usize>b4 * 12, wm,
        fixedC + (<usize>i << 4), varC + (<usize>b4 << 4), net, expMult, stepMult, out + (off << 2),
      );
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
    const GQ = f32x4.div(f32x4.splat(gi), f32x4.sqrt(f32x4.pmax(f32x4.add(V, f32x4.splat(1e-9)), f32x4.splat(1e-9))));
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
    const GQ = f32x4.div(f32x4.splat(gi), f32x4.sqrt(f32x4.pmax(f32x4.add(V, f32x4.splat(1e-9)), f32x4.splat(1e-9))));
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

/** Four elements' `gs = g^2 + 1e-30` as the one-element loop rounds it (the add in float64). */
@inline
function gsq4(G: v128): v128 {
  const GG = f32x4.mul(G, G);
  const tiny = f64x2.splat(1e-30);
  const lo = f32x4.demote_f64x2_zero(f64x2.add(f64x2.promote_low_f32x4(GG), tiny));
  const hi = f32x4.demote_f64x2_zero(f64x2.add(f64x2.promote_low_f32x4(v128.shuffle<f32>(GG, GG, 2, 3, 2, 3)), tiny));
  return v128.shuffle<f32>(lo, hi, 0, 1, 4, 5);
}

/**
 * `diagPass1` four elements at a time (lanes = elements): the state comes out bit for bit
 * as the one-element loop's; the squares of the features add up in float32 lanes over at
 * most 64 groups of four, then into `sumsq` (stored, as `diagPass1` stores) in float64.
 */
export function diagPass1x4(
  s: i32, g: usize, mPrev: usize, rmsPrev: usize, m: usize, rms: usize, p: usize,
  vPrev: usize, v: usize, decays: usize, sumsq: usize,
): void {
  const one = f32x4.splat(1);
  const D0 = f32x4.splat(load<f32>(decays));
  const D1 = f32x4.splat(load<f32>(decays, 4));
  const D2 = f32x4.splat(load<f32>(decays, 8));
  const RD = f32x4.splat(load<f32>(decays, 12));
  const A0 = f32x4.splat(load<f32>(decays, 16));
  const A1 = f32x4.splat(load<f32>(decays, 20));
  const A2 = f32x4.splat(load<f32>(decays, 24));
  const E0 = f32x4.sub(one, D0), E1 = f32x4.sub(one, D1), E2 = f32x4.sub(one, D2), ER = f32x4.sub(one, RD);
  const B0 = f32x4.sub(one, A0), B1 = f32x4.sub(one, A1), B2 = f32x4.sub(one, A2);
  const eps6 = f32x4.splat(1e-6), eps8 = f32x4.splat(1e-8), eps9 = f32x4.splat(1e-9);
  for (let k: usize = 0; k < 28; k++) store<f64>(sumsq + (k << 3), 0);
  const s4 = <usize>(s & ~3);
  const z = f32x4.splat(0);
  let e: usize = 0;
  while (e < s4) {
    let ag = z, ap = z, ar = z, arr = z;
    let am0 = z, am1 = z, am2 = z, amr0 = z, amr1 = z, amr2 = z, agq0 = z, agq1 = z, agq2 = z;
    let av0 = z, av1 = z, av2 = z, avr0 = z, avr1 = z, avr2 = z, amq0 = z, amq1 = z, amq2 = z;
    const end = min(s4, e + 256);
    for (; e < end; e += 4) {
      const G = v128.load(g + (e << 2));
      const P = v128.load(p + (e << 2));
      const RV = f32x4.add(f32x4.mul(RD, v128.load(rmsPrev + (e << 2))), f32x4.mul(ER, f32x4.mul(G, G)));
      v128.store(rms + (e << 2), RV);
      const RR = f32x4.div(one, f32x4.sqrt(f32x4.add(RV, eps6)));
      const GS = gsq4(G);
      const mp = mPrev + e * 12;
      const ma = v128.load(mp), mb = v128.load(mp, 16), mc = v128.load(mp, 32);
      const M0 = f32x4.add(f32x4.mul(D0, deinterleave0(ma, mb, mc)), f32x4.mul(E0, G));
      const M1 = f32x4.add(f32x4.mul(D1, deinterleave1(ma, mb, mc)), f32x4.mul(E1, G));
      const M2 = f32x4.add(f32x4.mul(D2, deinterleave2(ma, mb, mc)), f32x4.mul(E2, G));
      interleave3(m + e * 12, M0, M1, M2);
      const vp = vPrev + e * 12;
      const va = v128.load(vp), vb = v128.load(vp, 16), vc = v128.load(vp, 32);
      const V0 = f32x4.add(f32x4.mul(A0, deinterleave0(va, vb, vc)), f32x4.mul(B0, GS));
      const V1 = f32x4.add(f32x4.mul(A1, deinterleave1(va, vb, vc)), f32x4.mul(B1, GS));
      const V2 = f32x4.add(f32x4.mul(A2, deinterleave2(va, vb, vc)), f32x4.mul(B2, GS));
      interleave3(v + e * 12, V0, V1, V2);
      ag = f32x4.add(ag, f32x4.mul(G, G));
      ap = f32x4.add(ap, f32x4.mul(P, P));
      ar = f32x4.add(ar, f32x4.mul(RV, RV));
      arr = f32x4.add(arr, f32x4.mul(RR, RR));
      am0 = f32x4.add(am0, f32x4.mul(M0, M0));
      am1 = f32x4.add(am1, f32x4.mul(M1, M1));
      am2 = f32x4.add(am2, f32x4.mul(M2, M2));
      const MR0 = f32x4.mul(M0, RR), MR1 = f32x4.mul(M1, RR), MR2 = f32x4.mul(M2, RR);
      amr0 = f32x4.add(amr0, f32x4.mul(MR0, MR0));
      amr1 = f32x4.add(amr1, f32x4.mul(MR1, MR1));
      amr2 = f32x4.add(amr2, f32x4.mul(MR2, MR2));
      const GQ0 = f32x4.div(G, f32x4.sqrt(f32x4.pmax(f32x4.add(V0, eps9), eps9)));
      const GQ1 = f32x4.div(G, f32x4.sqrt(f32x4.pmax(f32x4.add(V1, eps9), eps9)));
      const GQ2 = f32x4.div(G, f32x4.sqrt(f32x4.pmax(f32x4.add(V2, eps9), eps9)));
      agq0 = f32x4.add(agq0, f32x4.mul(GQ0, GQ0));
      agq1 = f32x4.add(agq1, f32x4.mul(GQ1, GQ1));
      agq2 = f32x4.add(agq2, f32x4.mul(GQ2, GQ2));
      av0 = f32x4.add(av0, f32x4.mul(V0, V0));
      av1 = f32x4.add(av1, f32x4.mul(V1, V1));
      av2 = f32x4.add(av2, f32x4.mul(V2, V2));
      const VR0 = f32x4.div(one, f32x4.sqrt(f32x4.add(V0, eps8)));
      const VR1 = f32x4.div(one, f32x4.sqrt(f32x4.add(V1, eps8)));
      const VR2 = f32x4.div(one, f32x4.sqrt(f32x4.add(V2, eps8)));
      avr0 = f32x4.add(avr0, f32x4.mul(VR0, VR0));
      avr1 = f32x4.add(avr1, f32x4.mul(VR1, VR1));
      avr2 = f32x4.add(avr2, f32x4.mul(VR2, VR2));
      const MQ0 = f32x4.div(M0, f32x4.sqrt(f32x4.add(V0, eps6)));
      const MQ1 = f32x4.div(M1, f32x4.sqrt(f32x4.add(V1, eps6)));
      const MQ2 = f32x4.div(M2, f32x4.sqrt(f32x4.add(V2, eps6)));
      amq0 = f32x4.add(amq0, f32x4.mul(MQ0, MQ0));
      amq1 = f32x4.add(amq1, f32x4.mul(MQ1, MQ1));
      amq2 = f32x4.add(amq2, f32x4.mul(MQ2, MQ2));
    }
    // Feature columns: g, p, m (3), rms, m rsqrt(rms) (3), rsqrt(rms), g / sqrt(v) (3),
    // v twice (3 + 3), rsqrt(v) twice (3 + 3), m / sqrt(v) (3).
    flush(sumsq, ag);
    flush(sumsq + 8, ap);
    flush(sumsq + 16, am0);
    flush(sumsq + 24, am1);
    flush(sumsq + 32, am2);
    flush(sumsq + 40, ar);
    flush(sumsq + 48, amr0);
    flush(sumsq + 56, amr1);
    flush(sumsq + 64, amr2);
    flush(sumsq + 72, arr);
    flush(sumsq + 80, agq0);
    flush(sumsq + 88, agq1);
    flush(sumsq + 96, agq2);
    flush(sumsq + 104, av0);
    flush(sumsq + 112, av1);
    flush(sumsq + 120, av2);
    flush(sumsq + 152, avr0);
    flush(sumsq + 160, avr1);
    flush(sumsq + 168, avr2);
    flush(sumsq + 200, amq0);
    flush(sumsq + 208, amq1);
    flush(sumsq + 216, amq2);
  }
  for (let k: usize = 0; k < 3; k++) {
    store<f64>(sumsq + 128 + (k << 3), load<f64>(sumsq + 104 + (k << 3)));
    store<f64>(sumsq + 176 + (k << 3), load<f64>(sumsq + 152 + (k << 3)));
  }
  if (s4 < <usize>s) {
    // The last elements one at a time, into a second set of sums added to these.
    const rest = sumsq + 224;
    diagPass1(
      s - <i32>s4, g + (s4 << 2), mPrev + s4 * 12, rmsPrev + (s4 << 2), m + s4 * 12, rms + (s4 << 2), p + (s4 << 2),
      vPrev + s4 * 12, v + s4 * 12, decays, rest,
    );
    for (let k: usize = 0; k < 28; k++) addTo(sumsq, k << 3, load<f64>(rest + (k << 3)));
  }
}

/**
 * `diagPass2` four elements at a time (lanes = elements). `splat` is scratch for 118
 * pre-splat weights (1.9 KB): the 22 distinct first-layer rows (an accumulator's two
 * copies, as row and as column feature, share one summed row), then the rest of the MLP.
 */
export function diagPass2x4(
  s: i32, g: usize, m: usize, rms: usize, p: usize, v: usize, wm: usize, shift: usize, net: usize,
  expMult: f32, stepMult: f32, out: usize, splat: usize,
): void {
  // First-layer rows in the order the features are added: g, p, rms, rsqrt(rms), then per
  // decay j: m, m rsqrt(rms), g / sqrt(v), v (two rows summed), rsqrt(v) (two rows summed), m / sqrt(v).
  for (let q: usize = 0; q < 4; q++) {
    const c = q << 2;
    v128.store(splat + ((q) << 4), f32x4.splat(load<f32>(wm + c)));
    v128.store(splat + ((4 + q) << 4), f32x4.splat(load<f32>(wm + 16 + c)));
    v128.store(splat + ((8 + q) << 4), f32x4.splat(load<f32>(wm + 80 + c)));
    v128.store(splat + ((12 + q) << 4), f32x4.splat(load<f32>(wm + 144 + c)));
    for (let j: usize = 0; j < 3; j++) {
      const wj = wm + (j << 4) + c;
      const at = splat + ((16 + j * 24 + q) << 4);
      v128.store(at, f32x4.splat(load<f32>(wj + 32)));
      v128.store(at + 64, f32x4.splat(load<f32>(wj + 96)));
      v128.store(at + 128, f32x4.splat(load<f32>(wj + 160)));
      v128.store(at + 192, f32x4.splat(load<f32>(wj + 208) + load<f32>(wj + 256)));
      v128.store(at + 256, f32x4.splat(load<f32>(wj + 304) + load<f32>(wj + 352)));
      v128.store(at + 320, f32x4.splat(load<f32>(wj + 400)));
    }
  }
  splatNet(splat + (88 << 4), net);
  const one = f32x4.splat(1);
  const eps6 = f32x4.splat(1e-6), eps8 = f32x4.splat(1e-8), eps9 = f32x4.splat(1e-9);
  const S0 = f32x4.splat(load<f32>(shift));
  const S1 = f32x4.splat(load<f32>(shift, 4));
  const S2 = f32x4.splat(load<f32>(shift, 8));
  const S3 = f32x4.splat(load<f32>(shift, 12));
  const s4 = <usize>(s & ~3);
  for (let e: usize = 0; e < s4; e += 4) {
    const G = v128.load(g + (e << 2));
    const P = v128.load(p + (e << 2));
    const RV = v128.load(rms + (e << 2));
    const RR = f32x4.div(one, f32x4.sqrt(f32x4.add(RV, eps6)));
    let H0 = mad(mad(mad(mad(S0, G, splat), P, splat + 64), RV, splat + 128), RR, splat + 192);
    let H1 = mad(mad(mad(mad(S1, G, splat + 16), P, splat + 80), RV, splat + 144), RR, splat + 208);
    let H2 = mad(mad(mad(mad(S2, G, splat + 32), P, splat + 96), RV, splat + 160), RR, splat + 224);
    let H3 = mad(mad(mad(mad(S3, G, splat + 48), P, splat + 112), RV, splat + 176), RR, splat + 240);
    const mo = m + e * 12;
    const ma = v128.load(mo), mb = v128.load(mo, 16), mc = v128.load(mo, 32);
    const vo = v + e * 12;
    const va = v128.load(vo), vb = v128.load(vo, 16), vc = v128.load(vo, 32);
    for (let j = 0; j < 3; j++) {
      const M = j == 0 ? deinterleave0(ma, mb, mc) : j == 1 ? deinterleave1(ma, mb, mc) : deinterleave2(ma, mb, mc);
      const V = j == 0 ? deinterleave0(va, vb, vc) : j == 1 ? deinterleave1(va, vb, vc) : deinterleave2(va, vb, vc);
      const MR = f32x4.mul(M, RR);
      const GQ = f32x4.div(G, f32x4.sqrt(f32x4.pmax(f32x4.add(V, eps9), eps9)));
      const VR = f32x4.div(one, f32x4.sqrt(f32x4.add(V, eps8)));
      const MQ = f32x4.div(M, f32x4.sqrt(f32x4.add(V, eps6)));
      const at = splat + (<usize>(16 + j * 24) << 4);
      H0 = mad(mad(mad(mad(mad(mad(H0, M, at), MR, at + 64), GQ, at + 128), V, at + 192), VR, at + 256), MQ, at + 320);
      H1 = mad(mad(mad(mad(mad(mad(H1, M, at + 16), MR, at + 80), GQ, at + 144), V, at + 208), VR, at + 272), MQ, at + 336);
      H2 = mad(mad(mad(mad(mad(mad(H2, M, at + 32), MR, at + 96), GQ, at + 160), V, at + 224), VR, at + 288), MQ, at + 352);
      H3 = mad(mad(mad(mad(mad(mad(H3, M, at + 48), MR, at + 112), GQ, at + 176), V, at + 240), VR, at + 304), MQ, at + 368);
    }
    v128.store(out + (e << 2), tail4(H0, H1, H2, H3, P, splat + (88 << 4), expMult, stepMult));
  }
  if (s4 < <usize>s) {
    diagPass2(
      s - <i32>s4, g + (s4 << 2), m + s4 * 12, rms + (s4 << 2), p + (s4 << 2), v + s4 * 12, wm, shift, net,
      expMult, stepMult, out + (s4 << 2),
    );
  }
}

/**
 * The MLP's second and third layers pre-splat at `at` (30 vectors): the 4 x 4 weights
 * (row q' of unit q at `4q + q'`), its bias (16-19), the 4 x 2 weights (dir, mag) per
 * hidden unit (20 + 2q, 21 + 2q) and the biases (28, 29), from `net` (see `tail`).
 */
@inline
function splatNet(at: usize, net: usize): void {
  for (let k: usize = 0; k < 20; k++) v128.store(at + (k << 4), f32x4.splat(load<f32>(net + (k << 2))));
  for (let q: usize = 0; q < 4; q++) {
    v128.store(at + ((20 + 2 * q) << 4), f32x4.splat(load<f32>(net + 80 + (q << 4))));
    v128.store(at + ((21 + 2 * q) << 4), f32x4.splat(load<f32>(net + 84 + (q << 4))));
  }
  v128.store(at + (28 << 4), f32x4.splat(load<f32>(net, 144)));
  v128.store(at + (29 << 4), f32x4.splat(load<f32>(net, 148)));
}

/** ReLU of the first layer's four units (lanes = elements), the rest of the MLP (`splatNet` at `s2`) and the step. */
@inline
function tail4(H0: v128, H1: v128, H2: v128, H3: v128, P: v128, s2: usize, expMult: f32, stepMult: f32): v128 {
  const zero = f32x4.splat(0);
  // ReLU as pmax: one instruction, and a NaN comes through (see expf4).
  const X0 = f32x4.pmax(H0, zero);
  const X1 = f32x4.pmax(H1, zero);
  const X2 = f32x4.pmax(H2, zero);
  const X3 = f32x4.pmax(H3, zero);
  let Y0 = mad(mad(mad(mad(v128.load(s2, 256), X0, s2), X1, s2 + 64), X2, s2 + 128), X3, s2 + 192);
  let Y1 = mad(mad(mad(mad(v128.load(s2, 272), X0, s2 + 16), X1, s2 + 80), X2, s2 + 144), X3, s2 + 208);
  let Y2 = mad(mad(mad(mad(v128.load(s2, 288), X0, s2 + 32), X1, s2 + 96), X2, s2 + 160), X3, s2 + 224);
  let Y3 = mad(mad(mad(mad(v128.load(s2, 304), X0, s2 + 48), X1, s2 + 112), X2, s2 + 176), X3, s2 + 240);
  Y0 = f32x4.pmax(Y0, zero);
  Y1 = f32x4.pmax(Y1, zero);
  Y2 = f32x4.pmax(Y2, zero);
  Y3 = f32x4.pmax(Y3, zero);
  const s3 = s2 + (20 << 4);
  const D = mad(mad(mad(mad(v128.load(s3, 128), Y0, s3), Y1, s3 + 32), Y2, s3 + 64), Y3, s3 + 96);
  const G2 = mad(mad(mad(mad(v128.load(s3, 144), Y0, s3 + 16), Y1, s3 + 48), Y2, s3 + 80), Y3, s3 + 112);
  const E = expf4(f32x4.mul(G2, f32x4.splat(expMult)));
  return f32x4.sub(P, f32x4.mul(f32x4.mul(D, E), f32x4.splat(stepMult)));
}
