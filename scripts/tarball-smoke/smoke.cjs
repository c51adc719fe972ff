const tf = require('@tensorflow/tfjs-core');
const pytree = require('@lopt/pytree');
const checks = require('./checks.cjs');

checks(tf, { pytree }, 'cjs').catch((e) => {
  console.error(e);
  process.exit(1);
});
