// Pick a TensorFlow.js backend once, before any tensor is made.
import { setupBackend } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';

// No name: 'tensorflow' when @tensorflow/tfjs-node is installed, else 'wasm', else 'cpu'.
const backend = await setupBackend();
console.log(`backend: ${backend}`);
console.log(`1 + 2 = ${tf.add(1, 2).dataSync()[0]}`);
