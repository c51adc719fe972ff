import { test } from 'vitest';
import { runReadmeExample } from '../../../scripts/readme-example';

test('the README text-corpus example runs', async () => {
  // The corpus comes from Debian's jargon-text package (scripts/ci-system-deps.sh installs it).
  await runReadmeExample(new URL('../README.md', import.meta.url), 1);
});
