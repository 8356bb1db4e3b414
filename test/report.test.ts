import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitPowerLaw } from '../src/report/powerlaw.js';
import { lineChartSVG } from '../src/report/chart.js';

test('power-law fit recovers a, b, c from exact points', () => {
  const [a, b, c] = [40, -0.3, 2.5];
  const pts = [1e3, 3e3, 1e4, 3e4, 1e5, 1e6].map((n): [number, number] => [n, a * n ** b + c]);
  const f = fitPowerLaw(pts);
  assert.ok(Math.abs(f.c - c) < 1e-3, `c ${f.c}`);
  assert.ok(Math.abs(f.b - b) < 1e-3, `b ${f.b}`);
  assert.ok(Math.abs(f.a - a) / a < 1e-2, `a ${f.a}`);
  assert.ok(f.rmse < 1e-4);
});

test('power-law fit: noisy points stay close, bad input is refused', () => {
  const noise = [0.01, -0.008, 0.005, -0.01, 0.007];
  const pts = [2e4, 5e4, 1e5, 2e5, 5e5].map((n, i): [number, number] => [n, 12 * n ** -0.2 + 1 + noise[i]]);
  const f = fitPowerLaw(pts);
  assert.ok(f.rmse < 0.02, `rmse ${f.rmse}`);
  for (const [n, l] of pts) assert.ok(Math.abs(f.a * n ** f.b + f.c - l) < 0.03);
  assert.throws(() => fitPowerLaw([[1, 2], [2, 1]]), /at least 3 points/);
  assert.throws(() => fitPowerLaw([[0, 2], [2, 1], [3, 1]]), /N > 0/);
});

test('line chart SVG: one path per series, legend, escaped text, log axis labels', () => {
  const svg = lineChartSVG([
    { name: 'ternary', color: '#d62728', points: [[1e3, 5], [1e4, 4], [1e5, 3.5]] },
    { name: 'fp <fit>', color: '#1f77b4', points: [[1e3, 4.8], [1e5, 3.4]], dashed: true, noMarkers: true },
  ], { title: 'a & b', xLabel: 'N', yLabel: 'loss', logX: true });
  assert.match(svg, /^<svg /);
  assert.equal((svg.match(/<path /g) ?? []).length, 2);
  assert.equal((svg.match(/<circle /g) ?? []).length, 3);
  assert.match(svg, /a &amp; b/);
  assert.match(svg, /fp &lt;fit&gt;/);
  assert.match(svg, /stroke-dasharray/);
  assert.match(svg, />100k</); // decades on a log axis, k/M suffixes
  assert.match(svg, /\(log scale\)/);
});

test('line chart SVG: error bars are capped whiskers inside the plotted y range; a length mismatch is refused', () => {
  const svg = lineChartSVG([{ name: 'gap', color: '#000', points: [[1e3, 0.1], [1e4, 0.05]], yErr: [0.5, 0.02] }],
    { title: 'gap', xLabel: 'N', yLabel: 'nats', logX: true });
  assert.equal((svg.match(/<path /g) ?? []).length, 3); // the line + one whisker per point
  const ys = [...svg.matchAll(/M[\d.]+,([\d.]+) L[\d.]+,([\d.]+) M/g)].flatMap((m) => [Number(m[1]), Number(m[2])]);
  assert.equal(ys.length, 4);
  for (const y of ys) assert.ok(y >= 40 && y <= 420 - 55, `whisker end ${y} outside the plot`);
  // the y axis labels reach below the lowest whisker end (0.1 - 0.5)
  assert.ok(svg.includes('>-0.'), 'y range extended to the whisker');
  assert.throws(() => lineChartSVG([{ name: 'x', color: '#000', points: [[1, 1]], yErr: [1, 2] }], { title: '', xLabel: '', yLabel: '' }),
    /2 error bars for 1 points/);
});
