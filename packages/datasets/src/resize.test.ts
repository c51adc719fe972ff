import { describe, expect, it } from 'vitest';
import { resizeBilinearTo01 } from './resize.js';

describe('resizeBilinearTo01', () => {
  it('upsamples a row as TF2 half-pixel bilinear does (hand-computed)', () => {
    // Source x of output i: (i + 0.5) * 2/4 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped to [0, 1].
    const out = resizeBilinearTo01(Uint8Array.of(0, 100), 1, 1, 2, 1, 4);
    const expected = [0, 25, 75, 100].map((v) => v / 255);
    for (let i = 0; i < 4; i++) expect(out[i]).toBeCloseTo(expected[i]!, 7);
  });

  it('downsamples 4x4 to 2x2 by averaging each 2x2 block (source points at 0.5, 2.5)', () => {
    const img = Uint8Array.from({ length: 16 }, (_, i) => i * 10);
    const out = resizeBilinearTo01(img, 1, 4, 4, 2, 2);
    // Output (0,0) samples (0.5, 0.5): mean of pixels 0, 1, 4, 5 = (0+10+40+50)/4 = 25.
    const expected = [25, 45, 105, 125].map((v) => v / 255);
    for (let i = 0; i < 4; i++) expect(out[i]).toBeCloseTo(expected[i]!, 7);
  });

  it('only scales when the size is unchanged', () => {
    const img = Uint8Array.of(0, 1, 128, 255);
    expect(Array.from(resizeBilinearTo01(img, 1, 2, 2, 2, 2))).toEqual(
      [0, 1, 128, 255].map((v) => Math.fround(v / 255)),
    );
  });

  it('handles several images independently', () => {
    const img = Uint8Array.of(0, 100, 200, 200);
    const out = resizeBilinearTo01(img, 2, 1, 2, 1, 1);
    expect(out[0]).toBeCloseTo(50 / 255, 7);
    expect(out[1]).toBeCloseTo(200 / 255, 7);
  });
});
