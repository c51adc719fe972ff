import type * as vl from 'vega-lite';
import { CliError } from './errors.js';
import { writeFileAtomic } from './files.js';

/** One named curve of a line chart. */
export interface Series {
  /** Legend label. */
  name: string;
  /** `[x, y]` points; non-finite y values are left out. */
  points: readonly (readonly [number, number])[];
}

/** What a line chart shows. */
export interface LineChart {
  /** Title above the chart. */
  title: string;
  /** Label of the x axis. */
  xTitle: string;
  /** Label of the y axis. */
  yTitle: string;
  /** The curves. */
  series: readonly Series[];
  /** Log-scale y axis (values <= 0 are left out). */
  logY?: boolean;
  /** Width of the plotting area in pixels (default 560). */
  width?: number;
  /** Height of the plotting area in pixels (default 300). */
  height?: number;
  /** One small panel per series, each with its own y scale (three to a row). */
  facet?: boolean;
}

/** The files a chart was written to, and the picture's size. */
export interface RenderedChart {
  /** Path of the SVG file. */
  svg: string;
  /** Path of the PNG file. */
  png: string;
  /** Width of the picture in pixels (SVG and PNG alike). */
  width: number;
  /** Height of the picture in pixels. */
  height: number;
}

/** The vega-lite specification of a line chart. */
export function lineChartSpec(chart: LineChart): vl.TopLevelSpec {
  const values = chart.series.flatMap((s) =>
    s.points
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!chart.logY || y > 0))
      .map(([x, y]) => ({ x, y, series: s.name })),
  );
  const color = chart.series.length > 1 ? { color: { field: 'series', type: 'nominal' as const, title: null } } : {};
  const x = { field: 'x', type: 'quantitative' as const, title: chart.xTitle };
  const y = {
    field: 'y',
    type: 'quantitative' as const,
    title: chart.yTitle,
    scale: chart.logY ? { type: 'log' as const } : { zero: false },
  };
  if (chart.facet) {
    return {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: chart.title,
      background: 'white',
      data: { values },
      facet: { field: 'series', type: 'nominal', title: null },
      columns: 3,
      spec: {
        width: chart.width ?? 220,
        height: chart.height ?? 120,
        mark: { type: 'line', clip: true },
        encoding: { x, y },
      },
      resolve: { scale: { y: 'independent' } },
    };
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: chart.title,
    width: chart.width ?? 560,
    height: chart.height ?? 300,
    background: 'white',
    data: { values },
    mark: { type: 'line', clip: true },
    encoding: { x, y, ...color },
  };
}

/** Renders a vega-lite spec to SVG text (vega's headless SVG renderer). */
export async function specToSvg(spec: vl.TopLevelSpec): Promise<string> {
  // Loaded on first use: commands that draw nothing start faster.
  const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
  const compiled = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterises SVG text to PNG bytes at its own size. */
export async function svgToPng(svg: string): Promise<{ png: Uint8Array; width: number; height: number }> {
  const { Resvg } = await import('@resvg/resvg-js');
  const img = new Resvg(svg, {
    fitTo: { mode: 'original' },
    background: 'white',
    font: { loadSystemFonts: true },
  }).render();
  return { png: img.asPng(), width: img.width, height: img.height };
}

/** Draws `chart` into `<basePath>.svg` and `<basePath>.png` (both written atomically). */
export async function writeLineChart(basePath: string, chart: LineChart): Promise<RenderedChart> {
  let svg: string;
  let raster: Awaited<ReturnType<typeof svgToPng>>;
  try {
    svg = await specToSvg(lineChartSpec(chart));
    raster = await svgToPng(svg);
  } catch (e) {
    throw new CliError(`could not draw '${chart.title}': ${(e as Error).message}`);
  }
  const out = { svg: `${basePath}.svg`, png: `${basePath}.png`, width: raster.width, height: raster.height };
  writeFileAtomic(out.svg, svg);
  writeFileAtomic(out.png, raster.png);
  return out;
}
