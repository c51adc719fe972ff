import { packageTestConfig } from '../../vitest.shared';

// model.fit's shuffles are drawn from a PRNG key (src/test-setup.ts).
export default packageTestConfig(['src/test-setup.ts']);
