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
