import { describe, expect, test } from 'vitest';
import { closestNames, editDistance } from './closest-names.js';

describe('editDistance', () => {
  test.each([
    ['', '', 0],
    ['', 'abc', 3],
    ['kitten', 'sitting', 3],
    ['flaw', 'lawn', 2],
    ['b1', 'beta1', 3],
    ['same', 'same', 0],
  ])('%j to %j is %i, both ways', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
    expect(editDistance(b, a)).toBe(d);
  });
});

describe('closestNames', () => {
  const names = ['Adam', 'AdamW', 'SGD', 'SGDM', 'RMSProp', 'ImageMLP_FashionMnist8_Relu32', 'ImageMLP_Mnist8_Relu32'];

  test('near misses only by default, closest first, ties alphabetical, case ignored', () => {
    expect(closestNames('adm', names, { limit: 2 })).toEqual(['Adam', 'AdamW']);
    expect(closestNames('adm', names)).toEqual(['Adam', 'AdamW', 'SGDM']);
    expect(closestNames('sgdmm', names)).toEqual(['SGDM', 'SGD']);
    expect(closestNames('ADAMW', names, { limit: 1 })).toEqual(['AdamW']);
    expect(closestNames('rho', names)).toEqual([]);
  });

  test('the threshold grows with the query: max(2, length / 3)', () => {
    // Three edits in a 9-letter name are a near miss, three in a 6-letter one are not.
    expect(closestNames('RMSPropxxx', names)).toEqual(['RMSProp']);
    expect(closestNames('Adamxyz', ['Adam'])).toEqual([]);
    expect(closestNames('Adamxyz', ['Adam'], { maxDistance: Number.POSITIVE_INFINITY })).toEqual(['Adam']);
  });

  test('a name containing the query is a near miss', () => {
    expect(closestNames('fashion', names)).toEqual(['ImageMLP_FashionMnist8_Relu32']);
    expect(closestNames('', names)).toEqual([]);
  });

  test('maxDistance Infinity ranks every name, limit cuts the list', () => {
    expect(closestNames('xyz', names, { maxDistance: Number.POSITIVE_INFINITY, limit: 2 })).toEqual(['SGD', 'Adam']);
  });
});
