/** A dependency-free multi-series line chart as SVG (loss curves, scaling fits). */
export interface Series {
  name: string; color: string; points: Array<[number, number]>; dashed?: boolean; noMarkers?: boolean;
  /** Error bars: half-width at each point (same length as points), drawn as capped vertical whiskers. */
  yErr?: number[];
}
export interface ChartOptions { title: string; xLabel: string; yLabel: string; logX?: boolean; yFromZero?: boolean }

const esc = (s: string) => s.replace(/[<&>]/g, (ch) => ({ '<': '&lt;', '&': '&amp;', '>': '&gt;' })[ch]!);

/** The 1-2-5 step (×10^k) that cuts [lo, hi] into about `target` intervals. */
export function niceStep(lo: number, hi: number, target = 5): number {
  const raw = (hi - lo) / target;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return +((f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p).toPrecision(12);
}

/** Axis ticks: the multiples of a 1-2-5 step, the axis widened to the first and last one. */
export function niceTicks(lo: number, hi: number, target = 5): { lo: number; hi: number; step: number; ticks: number[] } {
  if (!(hi > lo)) { const d = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1; lo -= d; hi += d; } // one value: a range around it
  const step = niceStep(lo, hi, target);
  const a = Math.floor(lo / step + 1e-9), b = Math.ceil(hi / step - 1e-9);
  const ticks = Array.from({ length: b - a + 1 }, (_, i) => +((a + i) * step).toPrecision(12));
  return { lo: ticks[0], hi: ticks[ticks.length - 1], step, ticks };
}

/** Log-axis ticks (values, not logs): decades, with 2 and 5 between them when the axis spans few decades. */
export function logTicks(lo: number, hi: number): number[] {
  const a = Math.floor(Math.log10(lo) + 1e-9), b = Math.ceil(Math.log10(hi) - 1e-9);
  const mults = b - a <= 2 ? [1, 2, 5] : [1];
  const out: number[] = [];
  for (let e = a; e <= b; e++) for (const m of mults) { const v = +(m * 10 ** e).toPrecision(12); if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(v); }
  return out;
}

/** A tick label with as many decimals as the step needs; large values with k/M/G. */
export function tickLabel(v: number, step: number): string {
  const a = Math.abs(v);
  for (const [div, suffix] of [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']] as const) {
    if (a >= div * 10 || (a >= div && step >= div / 10)) return `${tickLabel(v / div, step / div)}${suffix}`;
  }
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

export function lineChartSVG(series: Series[], o: ChartOptions): string {
  const W0 = 680, H = 420, T = 40, B = 55, CHAR = 7; // CHAR: width of a 12px sans-serif character, roughly
  for (const s of series) {
    if (s.yErr && s.yErr.length !== s.points.length) throw new Error(`series ${s.name}: ${s.yErr.length} error bars for ${s.points.length} points`);
  }
  // the y range covers the whiskers too
  const all = series.flatMap((s) => s.points.flatMap(([x, y], i): Array<[number, number]> =>
    (s.yErr ? [[x, y - s.yErr[i]], [x, y + s.yErr[i]]] : [[x, y]])));
  if (all.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${W0}" height="${H}"/>`;
  const xsRaw = all.map(([x]) => x), ys = all.map(([, y]) => y);
  if (o.logX && xsRaw.some((x) => !(x > 0))) throw new Error('a log-scale x axis needs positive x values');
  // y: 1-2-5 ticks, the axis from the first tick to the last (from zero for sizes and speeds)
  let yMin = Math.min(...ys), yMax = Math.max(...ys);
  if (o.yFromZero) { yMin = Math.min(0, yMin); if (yMax <= 0 && yMin === 0) yMax = 1; }
  const yAxis = niceTicks(yMin, yMax);
  const [y0, y1] = [yAxis.lo, yAxis.hi];
  // x: linear 1-2-5 ticks, or decades on a log axis; a single x gets a range around it
  let xMin = Math.min(...xsRaw), xMax = Math.max(...xsRaw);
  let xTicks: number[], xLabels: string[], x0: number, x1: number;
  const tx = (x: number) => (o.logX ? Math.log10(x) : x);
  if (o.logX) {
    if (xMax === xMin) { xMin /= 2; xMax *= 2; }
    xTicks = logTicks(xMin, xMax);
    if (xTicks.length < 2) xTicks = [xMin, xMax];
    x0 = Math.min(tx(xMin), tx(xTicks[0])); x1 = Math.max(tx(xMax), tx(xTicks[xTicks.length - 1]));
    xLabels = xTicks.map((v) => tickLabel(v, 10 ** Math.floor(Math.log10(v) + 1e-9)));
  } else {
    const xa = niceTicks(xMin, xMax);
    xTicks = xa.ticks; x0 = xa.lo; x1 = xa.hi;
    xLabels = xTicks.map((v) => tickLabel(v, xa.step));
  }
  const yLabels = yAxis.ticks.map((v) => tickLabel(v, yAxis.step));
  // margins that fit the labels: y tick labels + the rotated y title on the left, the legend on the right
  const L = Math.max(56, 34 + CHAR * Math.max(...yLabels.map((l) => l.length)));
  const R = Math.max(120, 52 + CHAR * Math.max(...series.map((s) => s.name.length)));
  const W = Math.max(W0, L + R + 360, CHAR * (o.title.length + 4));
  const px = (x: number) => L + ((W - L - R) * (tx(x) - x0)) / (x1 - x0);
  const py = (y: number) => T + ((H - T - B) * (y1 - y)) / (y1 - y0);
  const body = series.map((s, k) => {
    const d = s.points.map(([x, y], i) => `${i ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    const marks = s.noMarkers && s.points.length > 1 ? '' : s.points.map(([x, y]) => `<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3.5" fill="${s.color}"/>`).join('');
    const bars = (s.yErr ?? []).map((e, i) => {
      const [x, y] = s.points[i], cx = px(x).toFixed(1), a = py(y - e).toFixed(1), b = py(y + e).toFixed(1);
      return `<path d="M${cx},${a} L${cx},${b} M${(px(x) - 4).toFixed(1)},${a} h8 M${(px(x) - 4).toFixed(1)},${b} h8" stroke="${s.color}" stroke-width="1.5"/>`;
    }).join('');
    const ly = T + 14 + 18 * k;
    return `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>${marks}${bars}
<line x1="${W - R + 10}" y1="${ly - 4}" x2="${W - R + 34}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/><text x="${W - R + 40}" y="${ly}">${esc(s.name)}</text>`;
  }).join('\n');
  const grid = yAxis.ticks.map((v) => `<line x1="${L}" y1="${py(v).toFixed(1)}" x2="${W - R}" y2="${py(v).toFixed(1)}" stroke="#e5e5e5"/>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(o.title)}</text>
${grid}
<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>
${yAxis.ticks.map((v, i) => `<text x="${L - 6}" y="${(py(v) + 4).toFixed(1)}" text-anchor="end">${yLabels[i]}</text>`).join('\n')}
${xTicks.map((v, i) => `<line x1="${px(v).toFixed(1)}" y1="${H - B}" x2="${px(v).toFixed(1)}" y2="${H - B + 4}" stroke="black"/><text x="${px(v).toFixed(1)}" y="${H - B + 20}" text-anchor="middle">${xLabels[i]}</text>`).join('\n')}
<text x="${(W - R + L) / 2}" y="${H - 12}" text-anchor="middle">${esc(o.xLabel)}${o.logX ? ' (log scale)' : ''}</text>
<text x="16" y="${H / 2}" transform="rotate(-90 16 ${H / 2})" text-anchor="middle">${esc(o.yLabel)}</text>
${body}
</svg>
`;
}
