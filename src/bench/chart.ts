/** Minimal dependency-free SVG line charts for reports. */
export interface Series { name: string; points: Array<[number, number]>; dashed?: boolean }

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];
const esc = (s: string) => s.replace(/[<&>]/g, (ch) => ({ '<': '&lt;', '&': '&amp;', '>': '&gt;' })[ch]!);

export function lineChartSVG(title: string, xLabel: string, yLabel: string, series: Series[], opts: { logX?: boolean } = {}): string {
  const W = 640, H = 400, L = 70, R = 170, T = 40, B = 50;
  const pts = series.flatMap((s) => s.points);
  if (pts.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><text x="20" y="40">${esc(title)}: no data</text></svg>\n`;
  const fx = (x: number) => (opts.logX ? Math.log2(x) : x);
  const xs = pts.map(([x]) => fx(x)), ys = pts.map(([, y]) => y);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y1 = Math.max(...ys) * 1.05;
  const px = (x: number) => L + ((W - L - R) * (fx(x) - x0)) / Math.max(1e-9, x1 - x0);
  const py = (y: number) => T + (H - T - B) * (1 - y / Math.max(1e-9, y1));
  const xticks = [...new Set(pts.map(([x]) => x))].sort((a, b) => a - b);
  const yticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * y1);
  const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${(W - R + L) / 2}" y="22" text-anchor="middle" font-size="14">${esc(title)}</text>
<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>
${xticks.map((x) => `<text x="${px(x)}" y="${H - B + 16}" text-anchor="middle">${fmt(x)}</text>`).join('')}
${yticks.map((y) => `<text x="${L - 6}" y="${py(y) + 4}" text-anchor="end">${fmt(y)}</text>`).join('')}
<text x="${(W - R + L) / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>
<text x="16" y="${H / 2}" transform="rotate(-90 16 ${H / 2})" text-anchor="middle">${esc(yLabel)}</text>
${series.map((s, i) => {
    const c = COLORS[i % COLORS.length];
    const d = s.points.map(([x, y], j) => `${j ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    return `<path d="${d}" fill="none" stroke="${c}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>` +
      s.points.map(([x, y]) => `<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${c}"/>`).join('') +
      `<text x="${W - R + 10}" y="${T + 16 * i + 10}" fill="${c}">${esc(s.name)}</text>`;
  }).join('\n')}
</svg>
`;
}
