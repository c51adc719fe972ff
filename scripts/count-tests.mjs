// Sums the vitest JSON reports of every package and every test leg (scripts/test.sh
// writes .vitest-results.<leg>.json) and prints `tests: N passed, M failed`. A package
// with a test script but no report at all (its runs crashed) counts as one failure.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

let passed = 0;
let failed = 0;
const legs = new Map();
for (const group of ['packages', 'apps']) {
  if (!existsSync(group)) continue;
  for (const name of readdirSync(group)) {
    const dir = join(group, name);
    const pkgFile = join(dir, 'package.json');
    if (!existsSync(pkgFile)) continue;
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
    if (!pkg.scripts?.test) continue;
    const reports = readdirSync(dir).filter((f) => /^\.vitest-results(\.[\w-]+)?\.json$/.test(f));
    if (reports.length === 0) {
      console.error(`${dir}: no test report (the test run did not finish)`);
      failed += 1;
      continue;
    }
    for (const file of reports) {
      const leg = file.replace(/^\.vitest-results\.?/, '').replace(/\.?json$/, '') || 'default';
      const r = JSON.parse(readFileSync(join(dir, file), 'utf8'));
      const l = legs.get(leg) ?? { passed: 0, failed: 0 };
      passed += r.numPassedTests;
      failed += r.numFailedTests;
      l.passed += r.numPassedTests;
      l.failed += r.numFailedTests;
      if (r.numFailedTests > 0 || r.success === false) {
        console.error(`${dir} (${leg}): ${r.numFailedTests} failed`);
        if (r.numFailedTests === 0) {
          failed += 1;
          l.failed += 1;
        }
      }
      legs.set(leg, l);
    }
  }
}
for (const [leg, l] of legs) console.log(`  ${leg}: ${l.passed} passed, ${l.failed} failed`);
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
