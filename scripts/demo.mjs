// The README's demo: `lopt demo part1` from the built command. On machines that keep the
// official data files beside the repository (development and CI machines without
// internet access), they are used; elsewhere the command finds or downloads them itself.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const beside = fileURLToPath(new URL('../../shared/data', import.meta.url));
const env = { ...process.env };
if (!env.LOPT_DATA_DIR && existsSync(`${beside}/fashion-mnist`)) env.LOPT_DATA_DIR = beside;
const cli = fileURLToPath(new URL('../apps/cli/dist/index.js', import.meta.url));
const run = spawnSync(process.execPath, [cli, 'demo', 'part1', ...process.argv.slice(2)], { stdio: 'inherit', env });
process.exit(run.status ?? 1);
