import { test } from 'vitest';
import { runReadmeExample } from '../../../scripts/readme-example';

// Block 0 is the 100-step meta-training walkthrough, too long for a unit test; the new APIs' examples run here.
test('the README example of evaluating optimizers runs', async () => {
  await runReadmeExample(new URL('../README.md', import.meta.url), 1);
});

test('the README example of a meta-training recipe runs', async () => {
  await runReadmeExample(new URL('../README.md', import.meta.url), 2);
});
