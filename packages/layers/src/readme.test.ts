import { test } from 'vitest';
import { runReadmeExample } from '../../../scripts/readme-example';

test('the README example runs', async () => {
  await runReadmeExample(new URL('../README.md', import.meta.url));
});
