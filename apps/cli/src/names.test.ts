import { describe, expect, it } from 'vitest';
import { closestNames, resolveName, unknownName } from './names.js';

describe('names', () => {
  const names = ['Adam', 'AdamW', 'SGD', 'SGDM', 'RMSProp'];
  it('suggests the closest names first', () => {
    expect(closestNames('adm', names, 2)).toEqual(['Adam', 'AdamW']);
    expect(closestNames('sgdmm', names, 1)).toEqual(['SGDM']);
  });
  it('resolves a name ignoring case only when unambiguous', () => {
    expect(resolveName('adamw', names)).toBe('AdamW');
    expect(resolveName('Adam', names)).toBe('Adam');
    expect(resolveName('x', names)).toBeUndefined();
  });
  it('builds a one-line error', () => {
    const e = unknownName('optimizer', 'Adamm', names, 'lopt optimizers');
    expect(e.message).toBe(
      "unknown optimizer 'Adamm'. Did you mean 'Adam', 'AdamW', 'SGDM'? (`lopt optimizers` lists them all)",
    );
    expect(e.exitCode).toBe(1);
  });
});
