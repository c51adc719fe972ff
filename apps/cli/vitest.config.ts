import { packageTestConfig } from '../../vitest.shared';

// The built CLI's process-level runs drive the library's loops, whose every backend is
// tested in the packages' legs; they run once, on wasm (where `train --backend cpu` also
// drives the CLI on cpu). Bit-identical resume on real data depends on the backend's
// arithmetic and runs in every leg, as do the units in src/.
export default packageTestConfig(
  [],
  [
    'test/cli.test.ts',
    'test/examples.test.ts',
    'test/meta-train-distributed.test.ts',
    'test/output-folders.test.ts',
    'test/signals.test.ts',
  ],
);
