/** A dependency-free loss-curve SVG (train loss and validation loss against step). */
export interface CurvePoint { step: number; loss: number; valLoss?: number }

export function lossCurveSVG(rows: CurvePoint[], title: string): string {
  const W = 640, H = 400, L = 60, R = 20, T = 40, B = 50;
  if (rows.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"/>`;
  const maxStep = rows[rows.length - 1].step;
  const losses = rows.flatMap((r) => (r.valLoss !== undefined ? [r.loss, r.valLoss] : [r.loss]));
  const lo = Math.min(...losses), hi = Math.max(...losses);
  const x = (s: number) => L + ((W - L - R) * s) / Math.max(1, maxStep);
  const y = (v: number) => T + ((H - T - B) * (hi - v)) / Math.max(1e-9, hi - lo);
  const path = (pts: Array<[number, number]>) => pts.map(([s, v], i) => `${i ? 'L' : 'M'}${x(s).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  const train = path(rows.map((r) => [r.step, r.loss]));
  const val = path(rows.filter((r) => r.valLoss !== undefined).map((r) => [r.step, r.valLoss!]));
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => lo + f * (hi - lo));
  const esc = (s: string) => s.replace(/[<&>]/g, (ch) => ({ '<': '&lt;', '&': '&amp;', '>': '&gt;' })[ch]!);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(title)}</text>
<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>
${ticks.map((v) => `<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(2)}</text>`).join('\n')}
<text x="${W / 2}" y="${H - 12}" text-anchor="middle">step (of ${maxStep})</text>
<text x="16" y="${H / 2}" transform="rotate(-90 16 ${H / 2})" text-anchor="middle">loss (nats/token)</text>
<path d="${train}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>
<path d="${val}" fill="none" stroke="#d62728" stroke-width="2"/>
<text x="${W - R - 120}" y="${T + 10}" fill="#1f77b4">train</text><text x="${W - R - 60}" y="${T + 10}" fill="#d62728">validation</text>
</svg>
`;
}
