/**
 * Bilinear resize of a stack of single-channel uint8 images, exactly as TensorFlow 2's
 * `tf.image.resize(images, [outH, outW])` (method bilinear, half-pixel centers, no
 * antialias), computed in float32 as TF's kernel does, then divided by 255 as the
 * reference's preprocessing does. Returns `count * outH * outW` float32 values in [0, 1].
 * When the size is unchanged TF skips the resize, and so does this: values are `v / 255`.
 */
export function resizeBilinearTo01(
  pixels: Uint8Array,
  count: number,
  inH: number,
  inW: number,
  outH: number,
  outW: number,
): Float32Array {
  const out = new Float32Array(count * outH * outW);
  const f = Math.fround;
  if (inH === outH && inW === outW) {
    const table = new Float32Array(256);
    for (let v = 0; v < 256; v++) table[v] = v / 255;
    for (let i = 0; i < out.length; i++) out[i] = table[pixels[i]!]!;
    return out;
  }
  const ys = interpolationWeights(inH, outH);
  const xs = interpolationWeights(inW, outW);
  const inSize = inH * inW;
  const outSize = outH * outW;
  for (let n = 0; n < count; n++) {
    const base = n * inSize;
    let o = n * outSize;
    for (let y = 0; y < outH; y++) {
      const top = base + ys.lower[y]! * inW;
      const bottom = base + ys.upper[y]! * inW;
      const yl = ys.lerp[y]!;
      for (let x = 0; x < outW; x++) {
        const l = xs.lower[x]!;
        const r = xs.upper[x]!;
        const xl = xs.lerp[x]!;
        const tl = pixels[top + l]!;
        const tr = pixels[top + r]!;
        const bl = pixels[bottom + l]!;
        const br = pixels[bottom + r]!;
        // Same operation order and float32 rounding as TF's compute_lerp.
        const t = f(tl + f(f(tr - tl) * xl));
        const b = f(bl + f(f(br - bl) * xl));
        const v = f(t + f(f(b - t) * yl));
        out[o++] = f(v / 255);
      }
    }
  }
  return out;
}

interface Weights {
  lower: Int32Array;
  upper: Int32Array;
  lerp: Float32Array;
}

// TF's compute_interpolation_weights with the half-pixel scaler, in float32.
function interpolationWeights(inSize: number, outSize: number): Weights {
  const f = Math.fround;
  const scale = f(inSize / outSize);
  const w: Weights = {
    lower: new Int32Array(outSize),
    upper: new Int32Array(outSize),
    lerp: new Float32Array(outSize),
  };
  for (let i = 0; i < outSize; i++) {
    const src = f(f(f(i + 0.5) * scale) - 0.5);
    const fl = Math.floor(src);
    w.lower[i] = Math.max(fl, 0);
    w.upper[i] = Math.min(Math.ceil(src), inSize - 1);
    w.lerp[i] = f(src - fl);
  }
  return w;
}
