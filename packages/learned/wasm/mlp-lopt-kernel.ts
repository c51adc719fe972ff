// AssemblyScript source of the per-element work of `MLPLOpt`'s fused step for its default
// shape (six momentum decays, an MLP 8 -> 32 -> 32 -> 2 over the normalised features).
// Compiled by `scripts/build-wasm.mjs` into `src/mlp-lopt-kernel-wasm.ts`; the JavaScript
// side (`src/mlp-lopt-kernel.ts`) owns the memory layout and the per-tensor quantities
// (the normalisers, folded into the first layer's weights). The momenta round to float32
// after each operation as the JavaScript loops and the plain float32 ops do, so they come
// out bit for bit the same; the sums of squares are float64. The MLP runs eight elements
// at a time, one per SIMD lane of two vectors, each weight stored splatted across the
// lanes: its hidden activations never leave registers and a 1 KB scratch, and no matrix
// of features or activations is ever built.

/** Where the heap starts (after the data segments): the JavaScript side allocates from here. */
export function heapBase(): usize {
  return __heap_base;
}

// Offsets of the splatted weights (in v128 slots) inside the weight block: the first
// layer's 8 feature rows [8][32] and its bias, the hidden layer [32][32] and bias, the
// output layer [32][2] and bias.
const W0: usize = 0;
const B0: usize = 256;
const W1: usize = 288;
const B1: usize = 1312;
const W2: usize = 1344;
const B2: usize = 1408;

@inline
function fma(acc: v128, x: v128, w: v128): v128 {
  return f32x4.add(acc, f32x4.mul(x, w));
}

@inline
function sq(x: v128): v128 {
  return f64x2.mul(x, x);
}

/**
 * New momenta of `n` elements: `m = d * mPrev + (1 - d) * g` for the six decays (`m`,
 * `mPrev` are `[n, 6]`), and the sums of squares of the eight feature columns (gradient,
 * parameter, six momenta) added to `sumsq` (8 float64). `decays` holds the decays as the
 * three vectors `[d0 d1 d2 d3] [d4 d5 d0 d1] [d2 d3 d4 d5]` that cover two elements' momenta,
 * then `1 - d` the same way.
 */
export function momenta(n: i32, g: usize, p: usize, mPrev: usize, m: usize, decays: usize, sumsq: usize): void {
  const d0 = v128.load(decays);
  const d1 = v128.load(decays, 16);
  const d2 = v128.load(decays, 32);
  const c0 = v128.load(decays, 48);
  const c1 = v128.load(decays, 64);
  const c2 = v128.load(decays, 80);
  let sg = f64x2.splat(0);
  let sp = f64x2.splat(0);
  let s01 = f64x2.splat(0);
  let s23 = f64x2.splat(0);
  let s45 = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const gv = v128.load(g + (<usize>i << 2));
    const pv = v128.load(p + (<usize>i << 2));
    const b = <usize>i * 24;
    const mp = mPrev + b;
    const mo = m + b;
    // Element e's six momenta are floats 6e .. 6e+5: four elements span six vectors.
    const m0 = f32x4.add(f32x4.mul(d0, v128.load(mp)), f32x4.mul(c0, v128.shuffle<f32>(gv, gv, 0, 0, 0, 0)));
    const m1 = f32x4.add(f32x4.mul(d1, v128.load(mp, 16)), f32x4.mul(c1, v128.shuffle<f32>(gv, gv, 0, 0, 1, 1)));
    const m2 = f32x4.add(f32x4.mul(d2, v128.load(mp, 32)), f32x4.mul(c2, v128.shuffle<f32>(gv, gv, 1, 1, 1, 1)));
    const m3 = f32x4.add(f32x4.mul(d0, v128.load(mp, 48)), f32x4.mul(c0, v128.shuffle<f32>(gv, gv, 2, 2, 2, 2)));
    const m4 = f32x4.add(f32x4.mul(d1, v128.load(mp, 64)), f32x4.mul(c1, v128.shuffle<f32>(gv, gv, 2, 2, 3, 3)));
    const m5 = f32x4.add(f32x4.mul(d2, v128.load(mp, 80)), f32x4.mul(c2, v128.shuffle<f32>(gv, gv, 3, 3, 3, 3)));
    v128.store(mo, m0);
    v128.store(mo, m1, 16);
    v128.store(mo, m2, 32);
    v128.store(mo, m3, 48);
    v128.store(mo, m4, 64);
    v128.store(mo, m5, 80);
    sg = f64x2.add(sg, f64x2.add(sq(f64x2.promote_low_f32x4(gv)), sq(f64x2.promote_low_f32x4(v128.shuffle<f32>(gv, gv, 2, 3, 2, 3)))));
    sp = f64x2.add(sp, f64x2.add(sq(f64x2.promote_low_f32x4(pv)), sq(f64x2.promote_low_f32x4(v128.shuffle<f32>(pv, pv, 2, 3, 2, 3)))));
    // Lane pairs by decay: m0, m3 hold (d0 d1)(d2 d3); m1, m4 (d4 d5)(d0 d1); m2, m5 (d2 d3)(d4 d5).
    const m0h = v128.shuffle<f32>(m0, m0, 2, 3, 2, 3);
    const m1h = v128.shuffle<f32>(m1, m1, 2, 3, 2, 3);
    const m2h = v128.shuffle<f32>(m2, m2, 2, 3, 2, 3);
    const m3h = v128.shuffle<f32>(m3, m3, 2, 3, 2, 3);
    const m4h = v128.shuffle<f32>(m4, m4, 2, 3, 2, 3);
    const m5h = v128.shuffle<f32>(m5, m5, 2, 3, 2, 3);
    s01 = f64x2.add(s01, f64x2.add(
      f64x2.add(sq(f64x2.promote_low_f32x4(m0)), sq(f64x2.promote_low_f32x4(m3))),
      f64x2.add(sq(f64x2.promote_low_f32x4(m1h)), sq(f64x2.promote_low_f32x4(m4h))),
    ));
    s23 = f64x2.add(s23, f64x2.add(
      f64x2.add(sq(f64x2.promote_low_f32x4(m0h)), sq(f64x2.promote_low_f32x4(m3h))),
      f64x2.add(sq(f64x2.promote_low_f32x4(m2)), sq(f64x2.promote_low_f32x4(m5))),
    ));
    s45 = f64x2.add(s45, f64x2.add(
      f64x2.add(sq(f64x2.promote_low_f32x4(m1)), sq(f64x2.promote_low_f32x4(m4))),
      f64x2.add(sq(f64x2.promote_low_f32x4(m2h)), sq(f64x2.promote_low_f32x4(m5h))),
    ));
  }
  let tg: f64 = 0, tp: f64 = 0, t0: f64 = 0, t1: f64 = 0, t2: f64 = 0, t3: f64 = 0, t4: f64 = 0, t5: f64 = 0;
  const e0 = f32x4.extract_lane(d0, 0), e1 = f32x4.extract_lane(d0, 1), e2 = f32x4.extract_lane(d0, 2);
  const e3 = f32x4.extract_lane(d0, 3), e4 = f32x4.extract_lane(d1, 0), e5 = f32x4.extract_lane(d1, 1);
  const k0 = f32x4.extract_lane(c0, 0), k1 = f32x4.extract_lane(c0, 1), k2 = f32x4.extract_lane(c0, 2);
  const k3 = f32x4.extract_lane(c0, 3), k4 = f32x4.extract_lane(c1, 0), k5 = f32x4.extract_lane(c1, 1);
  for (; i < n; i++) {
    const gi = load<f32>(g + (<usize>i << 2));
    const pi = load<f32>(p + (<usize>i << 2));
    const mp = mPrev + <usize>i * 24;
    const mo = m + <usize>i * 24;
    const v0 = e0 * load<f32>(mp) + k0 * gi;
    const v1 = e1 * load<f32>(mp, 4) + k1 * gi;
    const v2 = e2 * load<f32>(mp, 8) + k2 * gi;
    const v3 = e3 * load<f32>(mp, 12) + k3 * gi;
    const v4 = e4 * load<f32>(mp, 16) + k4 * gi;
    const v5 = e5 * load<f32>(mp, 20) + k5 * gi;
    store<f32>(mo, v0);
    store<f32>(mo, v1, 4);
    store<f32>(mo, v2, 8);
    store<f32>(mo, v3, 12);
    store<f32>(mo, v4, 16);
    store<f32>(mo, v5, 20);
    tg += <f64>gi * <f64>gi;
    tp += <f64>pi * <f64>pi;
    t0 += <f64>v0 * <f64>v0;
    t1 += <f64>v1 * <f64>v1;
    t2 += <f64>v2 * <f64>v2;
    t3 += <f64>v3 * <f64>v3;
    t4 += <f64>v4 * <f64>v4;
    t5 += <f64>v5 * <f64>v5;
  }
  store<f64>(sumsq, load<f64>(sumsq) + f64x2.extract_lane(sg, 0) + f64x2.extract_lane(sg, 1) + tg);
  store<f64>(sumsq, load<f64>(sumsq, 8) + f64x2.extract_lane(sp, 0) + f64x2.extract_lane(sp, 1) + tp, 8);
  store<f64>(sumsq, load<f64>(sumsq, 16) + f64x2.extract_lane(s01, 0) + t0, 16);
  store<f64>(sumsq, load<f64>(sumsq, 24) + f64x2.extract_lane(s01, 1) + t1, 24);
  store<f64>(sumsq, load<f64>(sumsq, 32) + f64x2.extract_lane(s23, 0) + t2, 32);
  store<f64>(sumsq, load<f64>(sumsq, 40) + f64x2.extract_lane(s23, 1) + t3, 40);
  store<f64>(sumsq, load<f64>(sumsq, 48) + f64x2.extract_lane(s45, 0) + t4, 48);
  store<f64>(sumsq, load<f64>(sumsq, 56) + f64x2.extract_lane(s45, 1) + t5, 56);
}

/** The features of the four elements at `i` (gradient, parameter, six momenta) through the first layer into `h`. */
@inline
function layer1(i: i32, g: usize, p: usize, m: usize, w0: usize, b0: usize, h: usize): void {
  const zero = f32x4.splat(0);
  const x0 = v128.load(g + (<usize>i << 2));
  const x1 = v128.load(p + (<usize>i << 2));
  // Four elements' momenta (six vectors, element-major) transposed to one vector per decay.
  const mb = m + <usize>i * 24;
  const va = v128.load(mb);
  const vb = v128.load(mb, 16);
  const vc = v128.load(mb, 32);
  const vd = v128.load(mb, 48);
  const ve = v128.load(mb, 64);
  const vf = v128.load(mb, 80);
  const t01 = v128.shuffle<f32>(va, vb, 0, 6, 1, 7);
  const u01 = v128.shuffle<f32>(vd, ve, 0, 6, 1, 7);
  const t23 = v128.shuffle<f32>(va, vc, 2, 4, 3, 5);
  const u23 = v128.shuffle<f32>(vd, vf, 2, 4, 3, 5);
  const t45 = v128.shuffle<f32>(vb, vc, 0, 6, 1, 7);
  const u45 = v128.shuffle<f32>(ve, vf, 0, 6, 1, 7);
  const x2 = v128.shuffle<f32>(t01, u01, 0, 1, 4, 5);
  const x3 = v128.shuffle<f32>(t01, u01, 2, 3, 6, 7);
  const x4 = v128.shuffle<f32>(t23, u23, 0, 1, 4, 5);
  const x5 = v128.shuffle<f32>(t23, u23, 2, 3, 6, 7);
  const x6 = v128.shuffle<f32>(t45, u45, 0, 1, 4, 5);
  const x7 = v128.shuffle<f32>(t45, u45, 2, 3, 6, 7);
  for (let j: usize = 0; j < 32; j++) {
    const wj = w0 + (j << 4);
    let a = v128.load(b0 + (j << 4));
    a = fma(a, x0, v128.load(wj));
    a = fma(a, x1, v128.load(wj, 512));
    a = fma(a, x2, v128.load(wj, 1024));
    a = fma(a, x3, v128.load(wj, 1536));
    a = fma(a, x4, v128.load(wj, 2048));
    a = fma(a, x5, v128.load(wj, 2560));
    a = fma(a, x6, v128.load(wj, 3072));
    a = fma(a, x7, v128.load(wj, 3584));
    // ReLU as pmax (a < 0 ? 0 : a): one instruction where max is a NaN-correct sequence,
    // and a NaN still comes through.
    v128.store(h + (j << 4), f32x4.pmax(a, zero));
  }
}

/** `p - direction * exp(magnitude * expMult) * stepMult` of four elements, in float32 like the plain ops. */
@inline
function stepOut(p: v128, od: v128, om: v128, em: v128, sm: v128): v128 {
  const t = f32x4.mul(om, em);
  let e = f32x4.splat(Mathf.exp(f32x4.extract_lane(t, 0)));
  e = f32x4.replace_lane(e, 1, Mathf.exp(f32x4.extract_lane(t, 1)));
  e = f32x4.replace_lane(e, 2, Mathf.exp(f32x4.extract_lane(t, 2)));
  e = f32x4.replace_lane(e, 3, Mathf.exp(f32x4.extract_lane(t, 3)));
  return f32x4.sub(p, f32x4.mul(f32x4.mul(od, e), sm));
}

/**
 * The new parameters of `n` elements (rounded up to a multiple of 8: the buffers have room
 * for the extra lanes, whose results are not read): features (gradient `g`, parameter
 * `p`, momenta `m` `[n, 6]`) through the MLP whose splatted weights are at `w` (the
 * normalisers folded into the first layer), then `p - out0 * exp(out1 * expMult) *
 * stepMult` into `out`. Eight elements at a time (two vectors), so each hidden-layer
 * weight loaded serves both. `h` is a scratch of 64 vectors.
 */
export function mlp(n: i32, g: usize, p: usize, m: usize, out: usize, w: usize, h: usize, expMult: f32, stepMult: f32): void {
  const zero = f32x4.splat(0);
  const em = f32x4.splat(expMult);
  const sm = f32x4.splat(stepMult);
  const w0 = w + (W0 << 4);
  const b0 = w + (B0 << 4);
  const w1 = w + (W1 << 4);
  const b1 = w + (B1 << 4);
  const w2 = w + (W2 << 4);
  const bd = v128.load(w + (B2 << 4));
  const bm = v128.load(w + (B2 << 4), 16);
  const hb = h + 512;
  for (let i = 0; i < n; i += 8) {
    layer1(i, g, p, m, w0, b0, h);
    layer1(i + 4, g, p, m, w0, b0, hb);
    // Hidden layer, 32 -> 32, ReLU, four units at a time for both vectors, each straight into the output layer.
    let oda = bd;
    let oma = bm;
    let odb = bd;
    let omb = bm;
    for (let jt: usize = 0; jt < 32; jt += 4) {
      const bt = b1 + (jt << 4);
      let a0 = v128.load(bt);
      let a1 = v128.load(bt, 16);
      let a2 = v128.load(bt, 32);
      let a3 = v128.load(bt, 48);
      let c0 = a0;
      let c1 = a1;
      let c2 = a2;
      let c3 = a3;
      const wt = w1 + (jt << 4);
      for (let k: usize = 0; k < 32; k++) {
        const ha = v128.load(h + (k << 4));
        const hc = v128.load(hb + (k << 4));
        const wk = wt + (k << 9);
        const v0 = v128.load(wk);
        const v1 = v128.load(wk, 16);
        const v2 = v128.load(wk, 32);
        const v3 = v128.load(wk, 48);
        a0 = fma(a0, ha, v0);
        c0 = fma(c0, hc, v0);
        a1 = fma(a1, ha, v1);
        c1 = fma(c1, hc, v1);
        a2 = fma(a2, ha, v2);
        c2 = fma(c2, hc, v2);
        a3 = fma(a3, ha, v3);
        c3 = fma(c3, hc, v3);
      }
      const wo = w2 + (jt << 5);
      const o0 = v128.load(wo);
      const o1 = v128.load(wo, 16);
      const o2 = v128.load(wo, 32);
      const o3 = v128.load(wo, 48);
      const o4 = v128.load(wo, 64);
      const o5 = v128.load(wo, 80);
      const o6 = v128.load(wo, 96);
      const o7 = v128.load(wo, 112);
      a0 = f32x4.pmax(a0, zero);
      a1 = f32x4.pmax(a1, zero);
      a2 = f32x4.pmax(a2, zero);
      a3 = f32x4.pmax(a3, zero);
      oda = fma(fma(fma(fma(oda, a0, o0), a1, o2), a2, o4), a3, o6);
      oma = fma(fma(fma(fma(oma, a0, o1), a1, o3), a2, o5), a3, o7);
      c0 = f32x4.pmax(c0, zero);
      c1 = f32x4.pmax(c1, zero);
      c2 = f32x4.pmax(c2, zero);
      c3 = f32x4.pmax(c3, zero);
      odb = fma(fma(fma(fma(odb, c0, o0), c1, o2), c2, o4), c3, o6);
      omb = fma(fma(fma(fma(omb, c0, o1), c1, o3), c2, o5), c3, o7);
    }
    v128.store(out + (<usize>i << 2), stepOut(v128.load(p + (<usize>i << 2)), oda, oma, em, sm));
    v128.store(out + (<usize>i << 2), stepOut(v128.load(p + (<usize>i << 2), 16), odb, omb, em, sm), 16);
  }
}
