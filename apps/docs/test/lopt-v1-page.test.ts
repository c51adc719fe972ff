/**
 * The generated parts of the page on lopt's own learned optimizer agree with their sources:
 * the figure and the theta statement are what `scripts/lopt-v1-page.ts` makes from the
 * committed metrics and the shipped theta's provenance, and the held-out results are of the
 * theta that ships (its SHA-256), with six tasks and three seeds each.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { metaTrainingSvg, PAGE_DATA, PROVENANCE, parseMetrics, thetaStatement } from '../scripts/lopt-v1-page';

const provenance = JSON.parse(readFileSync(PROVENANCE, 'utf8'));
const read = (f: string) => readFileSync(join(PAGE_DATA, f), 'utf8');

describe("lopt's own learned optimizer: the page's generated files", () => {
  it('the curves and the theta statement are regenerated identically from the metrics and the provenance', () => {
    const records = parseMetrics(read('metrics.jsonl'));
    expect(records.length).toBeGreaterThan(0);
    // The metrics reach at least the step the theta was taken at.
    expect(records[records.length - 1]!.step + 1).toBeGreaterThanOrEqual(provenance.outerStep);
    expect(read('meta-training.svg')).toBe(metaTrainingSvg(records, provenance.outerStep));
    expect(read('theta.md')).toBe(thetaStatement(provenance));
  });

  it('the held-out results are of the shipped theta, on the six tasks (those not finished named) with three seeds', () => {
    const results = JSON.parse(read('held-out/results.json'));
    expect(results.theta.thetaSha256).toBe(provenance.thetaSha256);
    expect(results.theta.outerStep).toBe(provenance.outerStep);
    expect(results.seeds).toEqual([0, 1, 2]);
    expect(results.tasks.length).toBeGreaterThan(0);
    expect(results.tasks.length + results.leftOut.length).toBe(6);
    expect(results.wins.of).toBe(results.tasks.length);
    for (const t of results.tasks) expect(t.rows).toHaveLength(4);
    const table = read('held-out/table.md');
    const n = results.tasks.length;
    expect(table).toContain(
      `beats Adam(0.001) on ${results.wins.lopt} of ${n} tasks; Celo2 on ${results.wins.celo2} of ${n}`,
    );
    for (const t of results.leftOut) expect(table).toContain(t);
    expect(table).toContain(`outer step ${provenance.outerStep} of 3000`);
  });

  it('parseMetrics names a broken line, and keeps the last record of a repeated step', () => {
    expect(() => parseMetrics('{"step":0,"loss":1,"metrics":{}}\n{"step":1,')).toThrow(/line 2 is not JSON/);
    const r = parseMetrics(
      '{"step":0,"loss":1,"metrics":{}}\n{"step":1,"loss":2,"metrics":{}}\n{"step":1,"loss":3,"metrics":{}}\n',
    );
    expect(r.map((x) => x.loss)).toEqual([1, 3]);
  });
});
