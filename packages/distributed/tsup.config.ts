import { packageConfig } from '../../tsup.config.base';

// The estimator threads' body is its own file: `ThreadedGradientEstimator` starts
// threads on it. `shims` gives the CJS build an `import.meta.url` to find it by.
export default packageConfig({ entry: ['src/index.ts', 'src/estimator-thread.ts'], shims: true });
