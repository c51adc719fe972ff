import { packageConfig } from '../../tsup.config.base';

// Two entries: the browser-safe library and the Node file I/O (`@lopt/outer-trainers/node`).
export default packageConfig({ entry: ['src/index.ts', 'src/node.ts'] });
