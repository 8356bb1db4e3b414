/** A dependency-free multi-series line chart as SVG (loss curves, scaling fits). */
export interface Series {
  name: string; color: string; points: Array<[number, number]>; dashed?: boolean; noMarkers?: boolean;
  /** Error bars: half-width at each point (same length as points), drawn as capped vertical whiskers. */
  yErr?: number[];
}
export interface ChartOptions { title: string; xLabel: string; yLabel: string; logX?: boolean; yFromZero?: boolean }

const esc = (s: string) => s.replace(/[<&>]/g, (ch) => ({ '<': '&lt;', '&': '&amp;', '>': '&gt;' })[ch]!);
const fmt = (v: number) => (Math.abs(v) >= 1e4 ? v.toExponential(1) : +v.toPrecision(3)).toString();

export function lineChartSVG(series: Series[], o: ChartOptions): string {
  const W = 680, H = 420, L = 70, R = 150, T = 40, B = 55;
  for (const s of series) {
    if (s.yErr && s.yErr.length !== s.points.length) throw new Error(`series ${s.name}: ${s.yErr.length} error bars for ${s.points.length} points`);
  }
  // the y range covers the whiskers too
  const all = series.flatMap((s) => s.points.flatMap(([x, y], i): Array<[number, number]> =>
    (s.yErr ? [[x, y - s.yErr[i]], [x, y + s.yErr[i]]] : [[x, y]])));
  if (all.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"/>`;
  const tx = (x: number) => (o.logX ? Math.log10(x) : x);
  const xs = all.map(([x]) => tx(x)), ys = all.map(([, y]) => y);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (x1 === x0) x1 = x0 + 1;
  const pad = (y1 - y0 || 1) * 0.05; y0 = o.yFromZero ? 0 : y0 - pad; y1 += pad; // sizes and speeds read best from zero
  const px = (x: number) => L + ((W - L - R) * (tx(x) - x0)) / (x1 - x0);
  const py = (y: number) => T + ((H - T - B) * (y1 - y)) / (y1 - y0);
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const yt = ticks.map((f) => y0 + f * (y1 - y0)), xt = ticks.map((f) => x0 + f * (x1 - x0));
  const body = series.map((s, k) => {
    const d = s.points.map(([x, y], i) => `${i ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    const marks = s.noMarkers ? '' : s.points.map(([x, y]) => `<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3.5" fill="${s.color}"/>`).join('');
    const bars = (s.yErr ?? []).map((e, i) => {
      const [x, y] = s.points[i], cx = px(x).toFixed(1), a = py(y - e).toFixed(1), b = py(y + e).toFixed(1);
      return `<path d="M${cx},${a} L${cx},${b} M${(px(x) - 4).toFixed(1)},${a} h8 M${(px(x) - 4).toFixed(1)},${b} h8" stroke="${s.color}" stroke-width="1.5"/>`;
    }).join('');
    const ly = T + 14 + 18 * k;
    return `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>${marks}${bars}
<line x1="${W - R + 10}" y1="${ly - 4}" x2="${W - R + 34}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/><text x="${W - R + 40}" y="${ly}">${esc(s.name)}</text>`;
  }).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${(W - R + L) / 2}" y="22" text-anchor="middle" font-size="14">${esc(o.title)}</text>
<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>
${yt.map((v) => `<text x="${L - 6}" y="${py(v) + 4}" text-anchor="end">${v.toFixed(3)}</text>`).join('\n')}
${xt.map((v) => `<text x="${L + ((W - L - R) * (v - x0)) / (x1 - x0)}" y="${H - B + 16}" text-anchor="middle">${fmt(o.logX ? 10 ** v : v)}</text>`).join('\n')}
<text x="${(W - R + L) / 2}" y="${H - 12}" text-anchor="middle">${esc(o.xLabel)}${o.logX ? ' (log scale)' : ''}</text>
<text x="16" y="${H / 2}" transform="rotate(-90 16 ${H / 2})" text-anchor="middle">${esc(o.yLabel)}</text>
${body}
</svg>
`;
}
