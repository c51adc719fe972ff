import { test } from 'vitest';
import { runReadmeExample } from '../../../scripts/readme-example';

test('the README example runs', async () => {
  // The example loads data as a user's program does: from $LOPT_DATA_DIR when set.
  await runReadmeExample(new URL('../README.md', import.meta.url));
});

test('the README example of task distributions and augmentation runs', async () => {
  await runReadmeExample(new URL('../README.md', import.meta.url), 1);
});
