import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Runs the first ```ts block of a package README as a module, so the documented example
 * is executed by the tests exactly as written. The file is placed inside the package so
 * its imports resolve as the package's own would.
 */
export async function runReadmeExample(readmeUrl: URL, block = 0): Promise<void> {
  const readme = fileURLToPath(readmeUrl);
  const text = readFileSync(readme, 'utf8');
  const blocks = [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const code = blocks[block];
  if (!code) throw new Error(`${readme} has no \`\`\`ts block #${block}`);
  const dir = mkdtempSync(join(dirname(readme), '.readme-example-'));
  const file = join(dir, 'example.ts');
  writeFileSync(file, code);
  try {
    await import(/* @vite-ignore */ file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
