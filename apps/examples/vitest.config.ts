import { packageTestConfig } from '../../vitest.shared';

// Long training runs whose numerics the packages test on every backend: Celo2 against
// float64 fixtures and the language models' meta-gradients against finite differences, on
// cpu too. Here they run once, on wasm.
export default packageTestConfig([], ['src/pretrained-celo2.test.ts', 'src/language-models.test.ts']);
