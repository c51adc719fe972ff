import { describe, expect, it } from 'vitest';
import { lineChartSpec, specToSvg } from './charts.js';

describe('charts', () => {
  it('leaves out non-finite points, and non-positive ones on a log axis', () => {
    const spec = lineChartSpec({
      title: 't',
      xTitle: 'x',
      yTitle: 'y',
      logY: true,
      series: [
        {
          name: 'a',
          points: [
            [0, 1],
            [1, Number.NaN],
            [2, 0],
            [3, 0.5],
          ],
        },
      ],
    }) as { data: { values: { x: number; y: number }[] } };
    expect(spec.data.values.map((v) => v.x)).toEqual([0, 3]);
  });
  it('renders SVG of the requested plot size plus axes', async () => {
    const svg = await specToSvg(
      lineChartSpec({
        title: 't',
        xTitle: 'x',
        yTitle: 'y',
        width: 300,
        height: 100,
        series: [
          {
            name: 'a',
            points: [
              [0, 1],
              [1, 2],
            ],
          },
        ],
      }),
    );
    const w = Number(/<svg[^>]* width="(\d+)"/.exec(svg)![1]);
    const h = Number(/<svg[^>]* height="(\d+)"/.exec(svg)![1]);
    expect(w).toBeGreaterThan(300);
    expect(w).toBeLessThan(420);
    expect(h).toBeGreaterThan(100);
    expect(svg).toContain('<path');
  });
});
