/** One panel of a figure: a curve over the meta-iterations. */
export interface Panel {
  /** Title above the panel. */
  title: string;
  /** The values, one per meta-iteration. */
  values: readonly number[];
  /** Draw the y axis on a log10 scale. */
  logY?: boolean;
  /** Label of the x axis (default 'meta-iteration'). */
  xLabel?: string;
}

const W = 480;
const H = 300;
const M = { left: 64, right: 16, top: 32, bottom: 40 };

function ticks(lo: number, hi: number, n = 5): number[] {
  const step = (hi - lo) / (n - 1);
  return Array.from({ length: n }, (_, i) => lo + i * step);
}

// 1, 2 or 5 times a power of ten, at least `raw`.
function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
}

function fmt(v: number): string {
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-2 || a >= 1e4) ? v.toExponential(1) : Number(v.toPrecision(3)).toString();
}

function panelSvg(p: Panel, x0: number): string {
  const ys = p.values.map((v) => (p.logY ? Math.log10(v) : v));
  const finite = ys.filter(Number.isFinite);
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (hi === lo) [lo, hi] = [lo - 1, hi + 1];
  const n = Math.max(p.values.length - 1, 1);
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (i: number) => x0 + M.left + (i / n) * pw;
  const sy = (y: number) => M.top + (1 - (y - lo) / (hi - lo)) * ph;
  const points = ys.map((y, i) => (Number.isFinite(y) ? `${sx(i).toFixed(1)},${sy(y).toFixed(1)}` : '')).join(' ');
  const yTicks = ticks(lo, hi)
    .map(
      (t) =>
        `<line x1="${x0 + M.left - 4}" x2="${x0 + M.left}" y1="${sy(t)}" y2="${sy(t)}" stroke="#333"/>` +
        `<text x="${x0 + M.left - 6}" y="${sy(t) + 4}" text-anchor="end" font-size="11">${fmt(p.logY ? 10 ** t : t)}</text>`,
    )
    .join('');
  const xStep = niceStep(n / 4);
  const xTicks = Array.from({ length: Math.floor(n / xStep) + 1 }, (_, i) => i * xStep)
    .map(
      (t) =>
        `<line x1="${sx(t)}" x2="${sx(t)}" y1="${M.top + ph}" y2="${M.top + ph + 4}" stroke="#333"/>` +
        `<text x="${sx(t)}" y="${M.top + ph + 16}" text-anchor="middle" font-size="11">${Math.round(t)}</text>`,
    )
    .join('');
  return [
    `<text x="${x0 + W / 2}" y="20" text-anchor="middle" font-size="14">${p.title}${p.logY ? ' (log scale)' : ''}</text>`,
    `<rect x="${x0 + M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
    yTicks,
    xTicks,
    `<text x="${x0 + M.left + pw / 2}" y="${H - 6}" text-anchor="middle" font-size="12">${p.xLabel ?? 'meta-iteration'}</text>`,
    `<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="${points}"/>`,
  ].join('\n');
}

/** Panels side by side in one SVG document, a picture any browser shows. */
export function panelsSvg(panels: readonly Panel[]): string {
  const body = panels.map((p, i) => panelSvg(p, i * W)).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W * panels.length}" height="${H}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${body}\n</svg>\n`;
}

/** One line of a {@link seriesSvg} chart: a legend label and `[x, y]` points. */
export interface Series {
  /** Legend label. */
  name: string;
  /** Points in x order; non-finite y values leave a gap. */
  points: readonly (readonly [number, number])[];
}

/** Options of {@link seriesSvg}. */
export interface SeriesChart {
  /** Title above the chart. */
  title: string;
  /** Label of the x axis. */
  xLabel: string;
  /** Draw the y axis on a log10 scale. */
  logY?: boolean;
  /** Clip the y axis at this value (diverged runs would otherwise flatten the others). */
  yMax?: number;
}

const COLORS = ['#d62728', '#1f77b4', '#2ca02c', '#7f7f7f', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2'];
const CW = 560;
const CH = 340;

/** Several lines on one chart with a legend, as an SVG document (one chart, or `charts` side by side). */
export function seriesSvg(charts: readonly { chart: SeriesChart; series: readonly Series[] }[]): string {
  const body = charts
    .map(({ chart, series }, ci) => {
      const x0 = ci * CW;
      const tf = (y: number) => (chart.logY ? Math.log10(y) : y);
      const ys = series.flatMap((s) =>
        s.points.map(([, y]) => tf(Math.min(y, chart.yMax ?? Number.POSITIVE_INFINITY))),
      );
      const finite = ys.filter(Number.isFinite);
      let lo = Math.min(...finite);
      let hi = Math.max(...finite);
      if (!Number.isFinite(lo)) [lo, hi] = [0, 1];
      if (hi === lo) [lo, hi] = [lo - 1, hi + 1];
      const xs = series.flatMap((s) => s.points.map(([x]) => x));
      const xlo = Math.min(...xs);
      const xhi = Math.max(...xs, xlo + 1);
      const m = { left: 64, right: 16, top: 32, bottom: 56 + 16 * Math.ceil(series.length / 2) };
      const pw = CW - m.left - m.right;
      const ph = CH - m.top - m.bottom;
      const sx = (x: number) => x0 + m.left + ((x - xlo) / (xhi - xlo)) * pw;
      const sy = (y: number) => m.top + (1 - (y - lo) / (hi - lo)) * ph;
      const yTicks = ticks(lo, hi)
        .map(
          (t) =>
            `<line x1="${x0 + m.left - 4}" x2="${x0 + m.left}" y1="${sy(t)}" y2="${sy(t)}" stroke="#333"/>` +
            `<text x="${x0 + m.left - 6}" y="${sy(t) + 4}" text-anchor="end" font-size="11">${fmt(chart.logY ? 10 ** t : t)}</text>`,
        )
        .join('');
      const xStep = niceStep((xhi - xlo) / 4);
      const xTicks = Array.from({ length: Math.floor((xhi - xlo) / xStep) + 1 }, (_, i) => xlo + i * xStep)
        .map(
          (t) =>
            `<line x1="${sx(t)}" x2="${sx(t)}" y1="${m.top + ph}" y2="${m.top + ph + 4}" stroke="#333"/>` +
            `<text x="${sx(t)}" y="${m.top + ph + 16}" text-anchor="middle" font-size="11">${fmt(t)}</text>`,
        )
        .join('');
      const lines = series
        .map((s, i) => {
          const pts = s.points
            .map(([x, y]) => {
              const v = tf(Math.min(y, chart.yMax ?? Number.POSITIVE_INFINITY));
              return Number.isFinite(v) ? `${sx(x).toFixed(1)},${sy(v).toFixed(1)}` : '';
            })
            .filter((p) => p !== '')
            .join(' ');
          const color = COLORS[i % COLORS.length];
          const lx = x0 + m.left + (i % 2) * (pw / 2);
          const ly = m.top + ph + 52 + 16 * Math.floor(i / 2);
          return (
            `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${pts}"/>` +
            `<line x1="${lx}" x2="${lx + 18}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/>` +
            `<text x="${lx + 24}" y="${ly}" font-size="11">${escapeXml(s.name)}</text>`
          );
        })
        .join('\n');
      return [
        `<text x="${x0 + CW / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(chart.title)}${chart.logY ? ' (log scale)' : ''}</text>`,
        `<rect x="${x0 + m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
        yTicks,
        xTicks,
        `<text x="${x0 + m.left + pw / 2}" y="${m.top + ph + 30}" text-anchor="middle" font-size="12">${escapeXml(chart.xLabel)}</text>`,
        lines,
      ].join('\n');
    })
    .join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${CW * charts.length}" height="${CH}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${body}\n</svg>\n`;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
