// Every optimizer against a float64 reference written here in plain JavaScript numbers:
// 60 updates with random gradients (some exactly zero) on a small pytree.
import { setFastPathsEnabled } from '@lopt/pytree';
import { describe, expect, test } from 'vitest';
import {
  AdaBelief,
  Adafactor,
  AdaGrad,
  Adam,
  Adamax,
  AdamW,
  chain,
  Fromage,
  Lamb,
  Lars,
  Lion,
  NAdamW,
  OptaxOptimizer,
  RAdam,
  RMSProp,
  SGD,
  SGDM,
  SM3,
  scaleByAdam,
  scaleByLearningRate,
  Yogi,
} from '../index.js';
import type { Optimizer } from '../optimizer.js';
import { relativeError, runOptimizer, TEST_SHAPES } from '../test-helpers.js';

const STEPS = 60;

/** A float64 reference: called once per step with the step number t (from 1). */
type LeafStep = (p: Float64Array, g: Float64Array, t: number, shape: number[]) => void;

/** Runs a per-leaf reference (each leaf gets its own closure state) over the recorded gradients. */
function reference(makeLeaf: () => LeafStep, p0: Float64Array[], grads: Float64Array[][]): Float64Array[] {
  const ps = p0.map((p) => Float64Array.from(p));
  const steps = ps.map(() => makeLeaf());
  grads.forEach((gs, i) => {
    ps.forEach((p, j) => steps[j]!(p, gs[j]!, i + 1, TEST_SHAPES[j]!));
  });
  return ps;
}

/** A reference applying `fn` to each element with per-element state `st`. */
function elementwise<S>(init: () => S, fn: (p: number, g: number, t: number, st: S) => number): () => LeafStep {
  return () => {
    let states: S[] | undefined;
    return (p, g, t) => {
      states ??= Array.from(p, () => init());
      for (let i = 0; i < p.length; i++) p[i] = fn(p[i]!, g[i]!, t, states[i]!);
    };
  };
}

const norm = (x: ArrayLike<number>) => Math.sqrt(Array.from(x).reduce((a, v) => a + v * v, 0));

function adamStep(s: { m: number; v: number }, g: number, t: number, b1: number, b2: number, eps: number, er: number) {
  s.m = b1 * s.m + (1 - b1) * g;
  s.v = b2 * s.v + (1 - b2) * g * g;
  const mh = s.m / (1 - b1 ** t);
  const vh = s.v / (1 - b2 ** t);
  return mh / (Math.sqrt(vh + er) + eps);
}

function check(opt: Optimizer, makeLeaf: () => LeafStep, tol = 1e-5): void {
  const { p0, grads, final } = runOptimizer(opt, STEPS);
  const ref = reference(makeLeaf, p0, grads);
  const err = relativeError(final, ref, p0);
  expect(err).toBeLessThan(tol);
  // The test is not vacuous: the params moved.
  expect(relativeError(p0, ref, p0)).toBeGreaterThan(0.5);
}

describe('optimizers match float64 references', () => {
  test('SGD', () => {
    check(
      new SGD(0.05),
      elementwise(
        () => ({}),
        (p, g) => p - 0.05 * g,
      ),
    );
  });

  test('SGDM and Nesterov SGDM', () => {
    check(
      new SGDM(0.05, 0.9),
      elementwise(
        () => ({ tr: 0 }),
        (p, g, _t, s) => {
          s.tr = 0.9 * s.tr + g;
          return p - 0.05 * s.tr;
        },
      ),
    );
    check(
      new SGDM(0.05, 0.8, { nesterov: true }),
      elementwise(
        () => ({ tr: 0 }),
        (p, g, _t, s) => {
          s.tr = 0.8 * s.tr + g;
          return p - 0.05 * (0.8 * s.tr + g);
        },
      ),
    );
  });

  test('Adam (reference defaults: epsRoot 1e-8) and Adam with epsRoot 0', () => {
    check(
      new Adam(0.02),
      elementwise(
        () => ({ m: 0, v: 0 }),
        (p, g, t, s) => p - 0.02 * adamStep(s, g, t, 0.9, 0.999, 1e-8, 1e-8),
      ),
    );
    check(
      new Adam(0.02, { b1: 0.8, b2: 0.99, eps: 1e-6, epsRoot: 0 }),
      elementwise(
        () => ({ m: 0, v: 0 }),
        (p, g, t, s) => p - 0.02 * adamStep(s, g, t, 0.8, 0.99, 1e-6, 0),
      ),
    );
  });

  test('Adam and Nesterov Adam on the plain-op path (fast paths off)', () => {
    const previous = setFastPathsEnabled(false);
    try {
      check(
        new Adam(0.02),
        elementwise(
          () => ({ m: 0, v: 0 }),
          (p, g, t, s) => p - 0.02 * adamStep(s, g, t, 0.9, 0.999, 1e-8, 1e-8),
        ),
      );
    } finally {
      setFastPathsEnabled(previous);
    }
    check(
      new OptaxOptimizer(chain(scaleByAdam({ nesterov: true }), scaleByLearningRate(0.02))),
      elementwise(
        () => ({ m: 0, v: 0 }),
        (p, g, t, s) => {
          s.m = 0.9 * s.m + 0.1 * g;
          s.v = 0.999 * s.v + 0.001 * g * g;
          const mh = (0.9 * s.m) / (1 - 0.9 ** (t + 1)) + (0.1 * g) / (1 - 0.9 ** t);
          return p - (0.02 * mh) / (Math.sqrt(s.v / (1 - 0.999 ** t)) + 1e-8);
        },
      ),
    );
  });

  test('AdamW', () => {
    check(
      new AdamW(0.02, { weightDecay: 0.1 }),
      elementwise(
        () => ({ m: 0, v: 0 }),
        (p, g, t, s) => p - 0.02 * (adamStep(s, g, t, 0.9, 0.999, 1e-8, 0) + 0.1 * p),
      ),
    );
  });

  test('NAdamW', () => {
    const [lr, b1, b2, eps, awd, l2] = [0.02, 0.9, 0.999, 1e-8, 0.1, 0.05];
    check(
      new NAdamW(lr, { weightDecay: awd, l2WeightDecay: l2 }),
      elementwise(
        () => ({ m: 0, v: 0 }),
        (p, g0, t, s) => {
          const g = g0 + l2 * p;
          s.m = b1 * s.m + (1 - b1) * g;
          s.v = b2 * s.v + (1 - b2) * g * g;
          const corr = Math.sqrt(1 - b2 ** t) / (1 - b1 ** t);
          return p - lr * corr * ((b1 * s.m + (1 - b1) * g) / (Math.sqrt(s.v) + eps) + awd * p);
        },
      ),
    );
  });

  test('RMSProp, without and with momentum', () => {
    check(
      new RMSProp(0.01),
      elementwise(
        () => ({ v: 0 }),
        (p, g, _t, s) => {
          s.v = 0.9 * s.v + 0.1 * g * g;
          return p - (0.01 * g) / Math.sqrt(s.v + 1e-8);
        },
      ),
    );
    check(
      new RMSProp(0.01, { decay: 0.95, momentum: 0.5, nesterov: true }),
      elementwise(
        () => ({ v: 0, tr: 0 }),
        (p, g, _t, s) => {
          s.v = 0.95 * s.v + 0.05 * g * g;
          const u = (-0.01 * g) / Math.sqrt(s.v + 1e-8);
          s.tr = 0.5 * s.tr + u;
          return p + 0.5 * s.tr + u;
        },
      ),
    );
  });

  test('AdaBelief', () => {
    check(
      new AdaBelief(0.02),
      elementwise(
        () => ({ m: 0, s: 0 }),
        (p, g, t, st) => {
          st.m = 0.9 * st.m + 0.1 * g;
          st.s = 0.999 * st.s + 0.001 * (g - st.m) ** 2 + 1e-16;
          const mh = st.m / (1 - 0.9 ** t);
          const sh = st.s / (1 - 0.999 ** t);
          return p - (0.02 * mh) / (Math.sqrt(sh) + 1e-16);
        },
      ),
    );
  });

  test('AdaGrad', () => {
    check(
      new AdaGrad(0.1),
      elementwise(
        () => ({ s: 0.1 }),
        (p, g, _t, st) => {
          st.s += g * g;
          return p - (0.1 * g) / Math.sqrt(st.s + 1e-7);
        },
      ),
    );
  });

  test('RAdam (both the momentum-only and the rectified phase)', () => {
    const [b1, b2] = [0.9, 0.999];
    const roInf = 2 / (1 - b2) - 1;
    check(
      new RAdam(0.02),
      elementwise(
        () => ({ m: 0, v: 0 }),
        (p, g, t, s) => {
          s.m = b1 * s.m + (1 - b1) * g;
          s.v = b2 * s.v + (1 - b2) * g * g;
          const mh = s.m / (1 - b1 ** t);
          const vh = s.v / (1 - b2 ** t);
          const ro = roInf - (2 * t * b2 ** t) / (1 - b2 ** t);
          if (ro < 5) return p - 0.02 * mh;
          const r = Math.sqrt(((ro - 4) * (ro - 2) * roInf) / ((roInf - 4) * (roInf - 2) * ro));
          return p - (0.02 * r * mh) / (Math.sqrt(vh) + 1e-8);
        },
      ),
    );
  });

  test('Yogi', () => {
    check(
      new Yogi(0.02),
      elementwise(
        () => ({ m: 1e-6, v: 1e-6 }),
        (p, g, t, s) => {
          s.m = 0.9 * s.m + 0.1 * g;
          s.v = s.v - 0.001 * Math.sign(s.v - g * g) * g * g;
          const mh = s.m / (1 - 0.9 ** t);
          const vh = s.v / (1 - 0.999 ** t);
          return p - (0.02 * mh) / (Math.sqrt(vh) + 1e-3);
        },
      ),
    );
  });

  test('Adamax', () => {
    check(
      new Adamax(0.02),
      elementwise(
        () => ({ m: 0, v: 0 }),
        (p, g, t, s) => {
          s.m = 0.9 * s.m + 0.1 * g;
          s.v = Math.max(0.999 * s.v, Math.abs(g) + 1e-8);
          return p - (0.02 * (s.m / (1 - 0.9 ** t))) / s.v;
        },
      ),
    );
  });

  test('Lion', () => {
    check(
      new Lion(0.01, { weightDecay: 0.1 }),
      elementwise(
        () => ({ m: 0 }),
        (p, g, _t, s) => {
          const u = Math.sign(0.1 * g + 0.9 * s.m);
          s.m = 0.99 * s.m + 0.01 * g;
          return p - 0.01 * (u + 0.1 * p);
        },
      ),
    );
  });

  test('Lamb', () => {
    check(new Lamb(0.02, { weightDecay: 0.01 }), () => {
      const st: { m: number; v: number }[] = [];
      return (p, g, t) => {
        const u = Array.from(p, (pv, i) => {
          st[i] ??= { m: 0, v: 0 };
          return adamStep(st[i]!, g[i]!, t, 0.9, 0.999, 1e-6, 0) + 0.01 * pv;
        });
        const pn = norm(p);
        const un = norm(u);
        const ratio = pn === 0 || un === 0 ? 1 : pn / un;
        for (let i = 0; i < p.length; i++) p[i] = p[i]! - 0.02 * ratio * u[i]!;
      };
    });
  });

  test('Lars', () => {
    check(new Lars(0.5, { weightDecay: 0.01, trustCoefficient: 0.01 }), () => {
      let tr: number[] | undefined;
      return (p, g) => {
        const u = Array.from(p, (pv, i) => g[i]! + 0.01 * pv);
        const pn = norm(p);
        const un = norm(u);
        const ratio = pn === 0 || un === 0 ? 1 : (0.01 * pn) / un;
        tr ??= Array.from(p, () => 0);
        for (let i = 0; i < p.length; i++) {
          tr[i] = 0.9 * tr[i]! - 0.5 * ratio * u[i]!;
          p[i] = p[i]! + tr[i]!;
        }
      };
    });
  });

  test('Fromage', () => {
    const lr = 0.05;
    const mult = 1 / Math.sqrt(1 + lr * lr);
    const safe = (n: number) => Math.max(n, 1e-6);
    check(new Fromage(lr), () => (p, g) => {
      const pn = safe(norm(p));
      const gn = safe(norm(g));
      const ratio = pn === 0 || gn === 0 ? 1 : pn / gn;
      for (let i = 0; i < p.length; i++) p[i] = p[i]! - lr * mult * ratio * g[i]! + (mult - 1) * p[i]!;
    });
  });

  test('SM3 (matrix, vector and scalar leaves)', () => {
    check(new SM3(0.05), () => {
      let acc: number[][] | undefined;
      let nu: number[] | undefined;
      return (p, g, _t, shape) => {
        const [rows, cols] = shape.length === 2 ? [shape[0]!, shape[1]!] : [p.length, 1];
        const two = shape.length === 2;
        acc ??= two ? [Array(rows).fill(0), Array(cols).fill(0)] : [Array(p.length).fill(0)];
        nu ??= Array(p.length).fill(0);
        const a = Array.from(g, (gv, k) => {
          const prev = two ? Math.min(acc![0]![Math.floor(k / cols)]!, acc![1]![k % cols]!) : acc![0]![k]!;
          return gv * gv + prev;
        });
        for (let k = 0; k < p.length; k++) {
          const up = a[k]! > 0 ? g[k]! / Math.sqrt(a[k]! + 1e-8) : 0;
          nu[k] = 0.9 * nu[k]! + 0.1 * up;
          p[k] = p[k]! - 0.05 * nu[k]!;
        }
        if (two) {
          acc[0] = Array.from({ length: rows }, (_, r) => Math.max(...a.slice(r * cols, r * cols + cols)));
          acc[1] = Array.from({ length: cols }, (_, c) => Math.max(...a.filter((_, k) => k % cols === c)));
        } else {
          acc[0] = a;
        }
      };
    });
  });

  test('Adafactor (factored matrix, unfactored vector and scalar)', () => {
    const lr = 0.05;
    check(new Adafactor(lr, { minDimSizeToFactor: 2 }), () => {
      let vRow: number[] | undefined;
      let vCol: number[] | undefined;
      let v: number[] | undefined;
      return (p, g, t, shape) => {
        const decay = 1 - t ** -0.8; // the count before the step is t - 1
        const g2 = Array.from(g, (x) => x * x + 1e-30);
        let u: number[];
        if (shape.length === 2) {
          const [rows, cols] = [shape[0]!, shape[1]!];
          // Largest axis d0 = 0 (rows), second d1 = 1: vRow has the column axis, vCol the row axis.
          vRow ??= Array(cols).fill(0);
          vCol ??= Array(rows).fill(0);
          vRow = vRow.map(
            (x, c) => decay * x + (1 - decay) * (g2.filter((_, k) => k % cols === c).reduce((a, b) => a + b) / rows),
          );
          vCol = vCol.map(
            (x, r) => decay * x + (1 - decay) * (g2.slice(r * cols, r * cols + cols).reduce((a, b) => a + b) / cols),
          );
          const rowMean = vRow.reduce((a, b) => a + b) / cols;
          u = Array.from(g, (x, k) => x * (vRow![k % cols]! / rowMean) ** -0.5 * vCol![Math.floor(k / cols)]! ** -0.5);
        } else {
          v ??= Array(p.length).fill(0);
          v = v.map((x, k) => decay * x + (1 - decay) * g2[k]!);
          u = Array.from(g, (x, k) => x / Math.sqrt(v![k]!));
        }
        const rms = (xs: ArrayLike<number>) => Math.sqrt(Array.from(xs).reduce((a, b) => a + b * b, 0) / xs.length);
        const denom = Math.max(1, rms(u));
        const prms = Math.max(rms(p), 1e-3);
        for (let k = 0; k < p.length; k++) p[k] = p[k]! - (u[k]! / denom) * lr * prms;
      };
    });
  });
});

describe('names and defaults follow the reference', () => {
  test('name strings', () => {
    expect(new SGD().name).toBe('SGD_lr0.01');
    expect(new SGDM().name).toBe('SGDM_lr0.01_m0.9');
    expect(new Adam().name).toBe('Adam_lr0.01_b10.9_b20.999_eps1e-08_epsroot1e-08');
    expect(new Adam(3e-4).name).toBe('Adam_lr0.0003_b10.9_b20.999_eps1e-08_epsroot1e-08');
    expect(new RMSProp().name).toBe('RMSProp_lr0.01_d0.9_eps1e-08_m0.0_nesterovFalse');
    expect(new NAdamW().name).toBe('NAdamW_lr0.0001_b10.9_b20.999_eps1e-08_awd0.0_l2wd0.0_nesterovTrue');
  });

  test('defaults', () => {
    const a = new Adam();
    expect([a.learningRate, a.b1, a.b2, a.eps, a.epsRoot]).toEqual([0.01, 0.9, 0.999, 1e-8, 1e-8]);
    expect(new AdamW(1e-3).options.weightDecay).toBe(1e-4);
    expect(new Lamb(1e-3).options.eps).toBe(1e-6);
    expect(new Lars(1e-3).options.trustCoefficient).toBe(0.001);
    expect(new Yogi(1e-3).options.eps).toBe(1e-3);
    expect(new AdaBelief().options.eps).toBe(1e-16);
    expect(new AdaGrad(1e-3).options).toEqual({ initialAccumulatorValue: 0.1, eps: 1e-7 });
    expect(new Adafactor(1e-3).options.minDimSizeToFactor).toBe(128);
    expect(new SM3(1e-3).options).toEqual({ momentum: 0.9, b2: 1 });
  });
});
