import { test } from 'vitest';
import { runReadmeExample } from '../../../scripts/readme-example';

// The README's first ts block, the Celo2 example: the published theta trains a real model.
test('the README example runs', async () => {
  await runReadmeExample(new URL('../README.md', import.meta.url));
}, 900_000);
