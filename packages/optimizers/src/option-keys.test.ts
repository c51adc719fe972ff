import { describe, expect, test } from 'vitest';
import {
  AdaBelief,
  Adafactor,
  AdaGrad,
  Adam,
  Adamax,
  AdamW,
  Lamb,
  Lars,
  Lion,
  NAdamW,
  RAdam,
  RMSProp,
  SGDM,
  SM3,
  scaleByAdam,
  scaleByNadamw,
  scaleByRms,
  Yogi,
} from './index.js';

describe('option names', () => {
  test('a misspelt option is an error naming the intended and the known options', () => {
    expect(() => new Adam(0.003, { b1: 0.8, beta1: 0.8 } as never)).toThrow(
      "Adam: unknown option 'beta1'; did you mean 'b1'? Known options: b1, b2, eps, epsRoot.",
    );
    expect(() => new AdamW(0.003, { epsilon: 1e-6 } as never)).toThrow(
      /AdamW: unknown option 'epsilon'; did you mean 'eps'\?/,
    );
    // Not another library's name, but a near miss of a known one.
    expect(() => new AdamW(0.003, { weightDecy: 1e-2 } as never)).toThrow(
      /AdamW: unknown option 'weightDecy'; did you mean 'weightDecay'\?/,
    );
    expect(() => new RMSProp(0.01, { rho: 0.9 } as never)).toThrow(
      /RMSProp: unknown option 'rho'\. Known options: decay, eps, momentum, nesterov\./,
    );
    expect(() => new SGDM(0.01, 0.9, { useNesterov: true } as never)).toThrow(
      /SGDM: unknown option 'useNesterov'; did you mean 'nesterov'\?/,
    );
    expect(() => scaleByAdam({ beta2: 0.99 } as never)).toThrow(
      /scaleByAdam: unknown option 'beta2'; did you mean 'b2'\?/,
    );
    expect(() => scaleByRms({ eps: 1e-8, epsilon: 1e-8 } as never)).toThrow(/scaleByRms: unknown option 'epsilon'/);
  });

  test('options not given as an object are refused', () => {
    expect(() => new Adam(0.01, 0.9 as never)).toThrow(/Adam: options must be an object/);
  });

  test('every optimizer with options takes b1 / b2 / eps style names and honours them', () => {
    // Each class accepts its documented names (the constructor would throw otherwise) ...
    const made = [
      new Adam(0.01, { b1: 0.8, b2: 0.99, eps: 1e-6, epsRoot: 0 }),
      new AdamW(0.01, { b1: 0.8, b2: 0.99, eps: 1e-6, epsRoot: 0, weightDecay: 0.1 }),
      new NAdamW(0.01, { b1: 0.8, b2: 0.99, eps: 1e-6, weightDecay: 0.1, nesterov: false, biasCorrection: false }),
      new RMSProp(0.01, { decay: 0.8, eps: 1e-6, momentum: 0.5, nesterov: true }),
      new AdaBelief(0.01, { b1: 0.8, b2: 0.99, eps: 1e-6, epsRoot: 1e-6 }),
      new Adamax(0.01, { b1: 0.8, b2: 0.99, eps: 1e-6 }),
      new Yogi(0.01, { b1: 0.8, b2: 0.99, eps: 1e-6 }),
      new RAdam(0.01, { b1: 0.8, b2: 0.99, eps: 1e-6, epsRoot: 0, threshold: 4 }),
      new Lamb(0.01, { b1: 0.8, b2: 0.99, eps: 1e-6, epsRoot: 0, weightDecay: 0.1 }),
      new Lion(0.01, { b1: 0.8, b2: 0.95, weightDecay: 0.1 }),
      new AdaGrad(0.01, { eps: 1e-6, initialAccumulatorValue: 0.2 }),
      new Adafactor(0.01, { eps: 1e-20, decayRate: 0.7 }),
      new Lars(0.01, { eps: 1e-6, momentum: 0.8, nesterov: true }),
      new SM3(0.01, { momentum: 0.8, b2: 0.99 }),
    ];
    // ... and the values reach the optimizer (its reference-style name shows them).
    expect(made[0]!.name).toMatch(/^Adam_lr0.01_b10.8_b20.99_eps1e-06_epsroot0(\.0)?$/);
    expect(made[2]!.name).toContain('_b10.8_b20.99_eps1e-06_awd0.1_');
    expect(made[2]!.name).toContain('nesterovFalse');
    expect(made[3]!.name).toContain('eps1e-06');
    // NAdamW forwards its options to scaleByNadamw, which checks them too.
    expect(() => scaleByNadamw({ adamwWeightDecay: 0.1 } as never)).toThrow(/did you mean 'weightDecay'\?/);
  });
});
