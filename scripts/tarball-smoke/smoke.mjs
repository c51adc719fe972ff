import * as tf from '@tensorflow/tfjs-core';
import * as pytree from '@lopt/pytree';
import checks from './checks.cjs';

await checks(tf, { pytree }, 'esm');
