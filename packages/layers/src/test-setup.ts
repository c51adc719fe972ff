// tfjs-layers' model.fit shuffles its batches with Math.random: every test here draws it
// from a PRNG key instead, so a training test's outcome is the same on every run.
import { afterAll, beforeEach } from 'vitest';
import { keyedMathRandom } from './test-helpers.js';

const original = Math.random;
beforeEach(() => {
  Math.random = keyedMathRandom(0);
});
afterAll(() => {
  Math.random = original;
});
