import { test } from 'vitest';
import { runReadmeExample } from '../../../scripts/readme-example';

test('the README language-model example runs', async () => {
  await runReadmeExample(new URL('../README.md', import.meta.url), 1);
}, 300_000);
